import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import type { OpHandle } from "../harness/index.js";
import {
  bffConfig,
  internalToken,
  json,
  KEY1,
  login,
  ports,
  sessionKeys as sessionKeysOf,
  startTwoAppBff,
  WEB,
} from "./helpers.js";

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let redisUrl: string;
let publicPort: number;
let rc: Redis;

beforeAll(async () => {
  ({ op, bff, publicUrl, redisUrl, publicPort, rc } = await startTwoAppBff());
});

const sessionKeys = () => sessionKeysOf(rc);

describe("invariant 9: malformed cookies, headers, tokens, configs and API requests give a clear error, never a crash or a changed state", () => {
  it("internal endpoint: malformed headers", async () => {
    const r = await login(publicUrl, op, "web");
    const before = await json(await internalToken(bff.internalUrl, "web", r.session));
    const url = `${bff.internalUrl}/internal/v1/session-token`;
    const cases: [Record<string, string>, number][] = [
      [{}, 400],
      [{ "x-sessiongate-app": "nope", "x-sessiongate-session": r.session }, 400],
      [{ "x-sessiongate-app": "web" }, 401],
      [{ "x-sessiongate-app": "web", "x-sessiongate-session": "a b" }, 401],
      [{ "x-sessiongate-app": "web", "x-sessiongate-session": "x".repeat(300) }, 401],
      [{ "x-sessiongate-app": "web", "x-sessiongate-session": "%00%ff" }, 401],
      [{ "x-sessiongate-app": "spa", "x-sessiongate-session": r.session }, 401], // another app's session
    ];
    for (const [h, status] of cases) {
      const res = await fetch(url, { headers: h });
      expect(res.status, JSON.stringify(h)).toBe(status);
      expect(res.headers.get("content-type")).toMatch(/json/);
      expect(typeof (await json(res)).error).toBe("string");
    }
    expect((await fetch(url, { method: "POST" })).status).toBe(405);
    expect((await fetch(`${bff.internalUrl}/nope`)).status).toBe(404);
    const after = await json(await internalToken(bff.internalUrl, "web", r.session));
    expect(after.access_token).toBe(before.access_token);
  });

  it("public routes: malformed cookies, paths, methods and callbacks", async () => {
    const r = await login(publicUrl, op, "web");
    const n = (await sessionKeys()).length;
    const cookies = [
      "__Host-sg-web=",
      '__Host-sg-web="unterminated',
      `__Host-sg-web=${"%".repeat(5000)}`,
      "=;=;;",
      "__Host-sg-web=\u00e4\u00ff",
    ];
    for (const c of cookies) {
      const res = await fetch(`${publicUrl}/auth/web/session`, { headers: { cookie: c } });
      expect(res.status).toBe(401);
    }
    const weird: [string, RequestInit, number][] = [
      ["/auth/unknown/login", {}, 404],
      ["/auth/web/unknown", {}, 404],
      ["/auth/web/login", { method: "DELETE" }, 405],
      ["/auth/web/callback", {}, 400],
      ["/auth/web/callback?state=a&state=b", {}, 400],
      ["/auth/web/callback?code=x&state=y", { headers: { cookie: "__Host-sg-web-login=garbage" } }, 400],
      [
        "/auth/web/callback?code=x&state=y",
        { headers: { cookie: `__Host-sg-web-login=${"v1.k1.AAAA.BBBB"}` } },
        400,
      ],
      [
        "/auth/web/backchannel-logout",
        {
          method: "POST",
          body: "logout_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        },
        400,
      ],
      [
        "/auth/web/backchannel-logout",
        { method: "POST", body: "logout_token=a.b.c", headers: { "content-type": "text/plain" } },
        400,
      ],
      ["/other", {}, 404],
    ];
    for (const [path, init, status] of weird) {
      const res = await fetch(`${publicUrl}${path}`, { ...init, redirect: "manual" });
      expect(res.status, path).toBe(status);
      expect(typeof (await json(res)).error).toBe("string");
    }
    // Raw malformed HTTP on the socket: 400, and the server keeps serving.
    const { connect } = await import("node:net");
    const raw = await new Promise<string>((resolve) => {
      const s = connect(publicPort, "127.0.0.1", () => s.write("GARBAGE / HTTP/9\r\n\x00\r\n\r\n"));
      let buf = "";
      s.on("data", (d) => (buf += d));
      s.on("close", () => resolve(buf));
      s.on("error", () => resolve(buf));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await sessionKeys()).length).toBe(n);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
    expect((await fetch(`${bff.internalUrl}/healthz`)).status).toBe(200);
  });

  it("internal endpoint: with internal.key configured, a missing or wrong key is 403", async () => {
    const r = await login(publicUrl, op, "web");
    const [p2] = await ports(1);
    const key = "k".repeat(32);
    const cfg = bffConfig({
      publicPort: p2,
      redisUrl,
      issuer: op.issuer,
      apps: [WEB],
      extra: { internal: { listen: "127.0.0.1:0", key } },
    });
    const keyed = await startBff(validateConfig(cfg), { defaultMetrics: false });
    try {
      expect((await internalToken(keyed.internalUrl, "web", r.session)).status).toBe(403);
      const wrong = await internalToken(keyed.internalUrl, "web", r.session, {
        "x-sessiongate-internal-key": "x".repeat(32),
      });
      expect(wrong.status).toBe(403);
      const ok = await internalToken(keyed.internalUrl, "web", r.session, {
        "x-sessiongate-internal-key": key,
      });
      expect(ok.status).toBe(200);
    } finally {
      await keyed.close();
    }
  });

  it("malformed configs are refused with the field named", () => {
    const good = bffConfig({
      publicPort: 1,
      redisUrl: "redis://127.0.0.1:1",
      issuer: "http://127.0.0.1:2",
      apps: [WEB],
    });
    const apps = good.apps as Record<string, unknown>[];
    const bad: [Record<string, unknown>, string][] = [
      [{ ...good, apps: [] }, "apps"],
      [{ ...good, apps: [{ ...apps[0], mode: "weird" }] }, "apps[0].mode"],
      [{ ...good, apps: [{ ...apps[0], cookie: "sg-no-host-prefix" }] }, "apps[0].cookie"],
      [{ ...good, apps: [{ ...apps[0], redirect_uri: "not a url" }] }, "apps[0].redirect_uri"],
      [{ ...good, apps: [apps[0], apps[0]] }, "apps[1].id"],
      [{ ...good, keys: { keys: { k1: "c2hvcnQ=" } } }, "keys.keys.k1"],
      [{ ...good, keys: { active: "k9", keys: { k1: KEY1 } } }, "keys.active"],
      [{ ...good, redis: { url: "http://x" } }, "redis.url"],
      [{ ...good, public: { listen: "nope:port" } }, "public.listen"],
      [{ ...good, session: { refresh_skew_s: -1 } }, "session.refresh_skew_s"],
      [{ ...good, allow_insecure_issuer: false }, "apps[0].issuer"],
    ];
    for (const [cfg, field] of bad)
      expect(() => validateConfig(cfg), field).toThrow(
        new RegExp(`^invalid config: ${field.replace(/[[\].]/g, "\\$&")}:`),
      );
  });
});
