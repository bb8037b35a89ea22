// The filter in a real Envoy 1.40 (V8): build/session-to-token.wasm in front of
// an echo upstream, with the token-server fixture as the BFF internal port.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { envoyBin, freePort, REPO_ROOT, renderTemplate, WASM_PATH } from "../harness/index.js";
import { COOKIE, filterConfig, ORIGIN, type Stack, startStack, wasmCounters } from "./envoy-fixture.js";

const SID = "s".repeat(43);
const SID_UNKNOWN = "u".repeat(43);

describe("session-to-token in Envoy", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack();
    s.bff.sessions.set(SID, { accessToken: "header.payload.sig", expiresIn: 300 });
  });

  it("passes a request without cookie through untouched", async () => {
    const res = await fetch(`${s.url}/plain`, { headers: { cookie: "other=1" } });
    expect(res.status).toBe(200);
    const got = s.echo.requests.at(-1)!;
    expect(got.path).toBe("/plain");
    expect(got.headers.cookie).toBe("other=1");
    expect(got.headers.authorization).toBeUndefined();
    expect(s.bff.requests).toHaveLength(0);
  });

  it("swaps the cookie for the bearer token and strips only the session cookie", async () => {
    const res = await fetch(`${s.url}/api/one`, { headers: { cookie: `a=1; ${COOKIE}=${SID}; b=2` } });
    expect(res.status).toBe(200);
    const got = s.echo.requests.at(-1)!;
    expect(got.path).toBe("/api/one");
    expect(got.headers.authorization).toBe("Bearer header.payload.sig");
    expect(got.headers.cookie).toBe("a=1; b=2");
    expect(JSON.stringify(got.headers)).not.toContain(SID);
    expect(s.bff.requests).toHaveLength(1);
    expect(s.bff.requests[0].headers["x-sessiongate-session"]).toBe(SID);
    expect(s.bff.requests[0].headers["x-sessiongate-app"]).toBe("demo");
  });

  it("serves the second request for the same session from the cache (no BFF call)", async () => {
    const before = s.bff.requests.length;
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${s.url}/api/again`, { headers: { cookie: `${COOKIE}=${SID}` } });
      expect(res.status).toBe(200);
      const got = s.echo.requests.at(-1)!;
      expect(got.headers.authorization).toBe("Bearer header.payload.sig");
      expect(got.headers.cookie).toBeUndefined();
    }
    expect(s.bff.requests.length).toBe(before);
  });

  it("answers 401 JSON and clears the cookie for an unknown session", async () => {
    const n = s.echo.requests.length;
    const res = await fetch(`${s.url}/api/x`, { headers: { cookie: `${COOKIE}=${SID_UNKNOWN}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "no_session" });
    expect(res.headers.get("set-cookie")).toBe(
      `${COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict`,
    );
    expect(s.echo.requests.length).toBe(n);
  });

  it("refuses a cross-site POST with 403 and allows a same-origin one", async () => {
    const n = s.echo.requests.length;
    const bad = await fetch(`${s.url}/api/x`, {
      method: "POST",
      body: "x",
      headers: { cookie: `${COOKIE}=${SID}`, "sec-fetch-site": "cross-site", origin: "https://evil.test" },
    });
    expect(bad.status).toBe(403);
    expect(await bad.json()).toEqual({ error: "csrf_denied" });
    expect(s.echo.requests.length).toBe(n);
    const ok = await fetch(`${s.url}/api/x`, {
      method: "POST",
      body: "x",
      headers: { cookie: `${COOKIE}=${SID}`, "sec-fetch-site": "same-origin", origin: ORIGIN },
    });
    expect(ok.status).toBe(200);
    expect(s.echo.requests.at(-1)!.headers.authorization).toBe("Bearer header.payload.sig");
  });

  it("leaves a request with its own bearer token untouched", async () => {
    const before = s.bff.requests.length;
    const res = await fetch(`${s.url}/api/m2m`, {
      method: "POST",
      body: "{}",
      headers: { authorization: "Bearer machine", cookie: `${COOKIE}=${SID}` },
    });
    expect(res.status).toBe(200);
    const got = s.echo.requests.at(-1)!;
    expect(got.headers.authorization).toBe("Bearer machine");
    expect(got.headers.cookie).toBeUndefined();
    expect(s.bff.requests.length).toBe(before);
  });

  it("fails closed with 503 when the BFF is down, errors or is slow; nothing reaches the upstream", async () => {
    const n = s.echo.requests.length;
    for (const mode of ["down", "error", "slow"] as const) {
      s.bff.mode = mode;
      s.bff.slowMs = 2000; // the filter's bff_timeout_ms is 500
      const sid = `${mode}`.padEnd(43, "z");
      s.bff.sessions.set(sid, { accessToken: "t", expiresIn: 300 });
      const t0 = Date.now();
      const res = await fetch(`${s.url}/api/x`, { headers: { cookie: `${COOKIE}=${sid}` } });
      expect(res.status, mode).toBe(503);
      expect(await res.json()).toEqual({ error: "session_service_unavailable" });
      if (mode === "slow") expect(Date.now() - t0).toBeLessThan(1900);
    }
    s.bff.mode = "ok";
    expect(s.echo.requests.length).toBe(n);
  });

  it("survives a client that goes away while the BFF call is pending", async () => {
    s.bff.mode = "slow";
    s.bff.slowMs = 300;
    const sid = "gone".padEnd(43, "g");
    s.bff.sessions.set(sid, { accessToken: "late.token.x", expiresIn: 300 });
    const n = s.echo.requests.length;
    const aborted = await fetch(`${s.url}/api/gone`, {
      headers: { cookie: `${COOKIE}=${sid}` },
      signal: AbortSignal.timeout(50),
    }).then(
      () => "answered",
      () => "aborted",
    );
    expect(aborted).toBe("aborted");
    await new Promise((r) => setTimeout(r, 500)); // the BFF answers after the stream is gone
    s.bff.mode = "ok";
    expect(s.echo.requests.length).toBe(n);
    const res = await fetch(`${s.url}/api/after`, { headers: { cookie: `${COOKIE}=${SID}` } });
    expect(res.status).toBe(200);
    expect(s.echo.requests.at(-1)!.headers.authorization).toBe("Bearer header.payload.sig");
  });

  it("shows its counters in Envoy's /stats", async () => {
    const c = await wasmCounters(s.envoy);
    expect(Object.keys(c).sort()).toEqual([
      "bad_route_metadata",
      "bff_errors",
      "csrf_denied",
      "hits",
      "misses",
      "no_session",
      "passthrough",
    ]);
    expect(c.hits).toBeGreaterThanOrEqual(5);
    expect(c.misses).toBeGreaterThanOrEqual(2);
    expect(c.no_session).toBe(1);
    expect(c.csrf_denied).toBe(1);
    expect(c.bff_errors).toBe(3);
    expect(c.bad_route_metadata).toBe(0);
    expect(c.passthrough).toBeGreaterThanOrEqual(2);
  });
});

describe("bad configuration", () => {
  // Run Envoy directly (not startEnvoy): a rejected plugin makes Envoy exit at
  // once with status 1, and the test reads its whole log.
  it("fails on_configure with a log line naming the field", async () => {
    const dir = mkdtempSync(join(tmpdir(), "s2t-badcfg-"));
    const yaml = renderTemplate(readFileSync(join(REPO_ROOT, "envoy", "wasm-filter.yaml"), "utf8"), {
      ADMIN_PORT: await freePort(),
      LISTEN_PORT: await freePort(),
      ECHO_PORT: 9,
      BFF_PORT: 9,
      WASM_PATH,
      FILTER_CONFIG: filterConfig({ cache: { slots: 0 } }),
    });
    writeFileSync(join(dir, "envoy.yaml"), yaml);
    const run = spawnSync(
      envoyBin(),
      ["-c", join(dir, "envoy.yaml"), "--disable-hot-restart", "--concurrency", "1", "-l", "info"],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    const log = `${run.stdout}${run.stderr}`;
    expect(run.status).not.toBe(0);
    expect(log).toContain("invalid configuration: field 'cache.slots'");
    expect(log).toContain("Unable to create Wasm plugin");
    expect(log).not.toContain("starting main dispatch loop");
    rmSync(dir, { recursive: true, force: true });
  });
});
