// The BFF's /metrics is on its admin listener (admin.listen) only, apart from
// the internal listener that serves the filter its tokens: a scraper never
// needs a way to the token endpoint, and the token endpoint's port serves no
// metrics. The probes answer on both.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { type OpHandle, onCleanup, startOP, startRedis } from "../harness/index.js";
import { bffConfig, internalToken, login, opClient, ports, WEB } from "./helpers.js";

let op: OpHandle;
let bff: RunningBff;
let redisUrl: string;
let publicPort: number;
let publicUrl: string;

beforeAll(async () => {
  [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  redisUrl = (await startRedis()).url;
  op = await startOP({ clients: [opClient(publicUrl, WEB)] });
  bff = await startBff(validateConfig(bffConfig({ publicPort, redisUrl, issuer: op.issuer, apps: [WEB] })), {
    defaultMetrics: false,
  });
});

afterAll(async () => {
  await bff?.close();
});

describe("admin listener", () => {
  it("serves /metrics; the token-serving internal listener and the public one do not", async () => {
    expect(bff.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new Set([bff.adminUrl, bff.internalUrl, bff.publicUrl]).size).toBe(3);
    const m = await fetch(`${bff.adminUrl}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get("content-type")).toContain("text/plain");
    expect(await m.text()).toContain("sessiongate_bff_redis_up 1");
    for (const base of [bff.internalUrl, bff.publicUrl]) {
      const r = await fetch(`${base}/metrics`);
      expect(r.status, `${base}/metrics`).toBe(404);
      expect(await r.text()).not.toContain("sessiongate_bff_");
    }
  });

  it("is no way to the token endpoint: the session's token comes from the internal listener only", async () => {
    const s = await login(publicUrl, op, WEB.id);
    expect((await internalToken(bff.internalUrl, WEB.id, s.session)).status).toBe(200);
    const viaAdmin = await internalToken(bff.adminUrl!, WEB.id, s.session);
    expect(viaAdmin.status).toBe(404);
    expect(await viaAdmin.text()).not.toContain("access_token");
  });

  it("answers the probes (/healthz, /readyz) on the admin listener, and still on the internal one", async () => {
    for (const base of [bff.adminUrl!, bff.internalUrl]) {
      expect((await fetch(`${base}/healthz`)).status, base).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status, base).toBe(200);
      expect(await ready.json()).toEqual({ status: "ready" });
    }
  });

  it("refuses other methods and paths", async () => {
    expect((await fetch(`${bff.adminUrl}/metrics`, { method: "POST", body: "x" })).status).toBe(405);
    expect((await fetch(`${bff.adminUrl}/auth/web/session`)).status).toBe(404);
    // Counted under its own listener label.
    const text = await (await fetch(`${bff.adminUrl}/metrics`)).text();
    expect(text).toMatch(
      /sessiongate_bff_http_request_duration_seconds_count\{[^}]*listener="admin"[^}]*route="metrics"/,
    );
  });

  it("without admin.listen no listener serves /metrics, and the configuration says why", async () => {
    const cfg = bffConfig({ publicPort: 0, redisUrl, issuer: op.issuer, apps: [WEB] });
    delete cfg.admin;
    const b = await startBff(validateConfig(cfg), { defaultMetrics: false });
    onCleanup(() => b.close());
    expect(b.adminUrl).toBeUndefined();
    expect((await fetch(`${b.internalUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${b.internalUrl}/healthz`)).status).toBe(200);
  });

  it("a bad admin section is a configuration error naming the field", () => {
    const base = bffConfig({
      publicPort: 8080,
      internalPort: 8081,
      redisUrl,
      issuer: op.issuer,
      apps: [WEB],
    });
    const bad: [unknown, string][] = [
      [{ listen: "127.0.0.1:8081" }, "admin.listen: must use another port than internal.listen"],
      [{ listen: "0.0.0.0:8080" }, "admin.listen: must use another port than public.listen"],
      [{ listen: "not an address" }, "admin.listen"],
      [{}, "admin.listen: is required"],
      [{ listen: "127.0.0.1:9464", port: 1 }, "admin.port: unknown field"],
      ["127.0.0.1:9464", "admin: must be an object"],
    ];
    for (const [admin, msg] of bad) {
      let err: unknown;
      try {
        validateConfig({ ...base, admin });
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(admin)).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(msg);
    }
    expect(validateConfig({ ...base, admin: { listen: "9464" } }).admin).toEqual({
      listen: { host: "127.0.0.1", port: 9464 },
    });
  });
});
