// DESIGN.md §7 security invariants that concern the BFF (1-4, 9), as named tests,
// plus the at-rest properties of the session store.
import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { decrypt, encrypt, type KeyRing } from "../../bff/session/crypto.js";
import { OpBrowser, type OpHandle, startOP, startRedis } from "../harness/index.js";
import {
  bffConfig,
  internalToken,
  json,
  KEY1,
  KEY2,
  login,
  opClient,
  ports,
  setCookies,
  startLogin,
  type TestApp,
} from "./helpers.js";
import { allowLoopbackCallbacks } from "./op-loopback.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const SPA: TestApp = { id: "spa", mode: "tokenExchange", secret: "spa-secret-0123456789abcdef" };

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let redisUrl: string;
let publicPort: number;
let rc: Redis;
const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", Buffer.from(KEY1, "base64")]]),
  hashKey: Buffer.alloc(0),
};

beforeAll(async () => {
  [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  redisUrl = redis.url;
  rc = new Redis(redis.url);
  op = await startOP({ clients: [opClient(publicUrl, WEB), opClient(publicUrl, SPA)], ttl: 120 });
  allowLoopbackCallbacks(op);
  bff = await startBff(
    validateConfig(bffConfig({ publicPort, redisUrl, issuer: op.issuer, apps: [WEB, SPA] })),
    { defaultMetrics: false },
  );
});

afterAll(async () => {
  await bff?.close();
  rc?.disconnect();
});

const sessionKeys = async () => (await rc.keys("sg:s:*")).filter((k) => !k.endsWith(":lock"));

/** Runs a login up to the OP's redirect back, without calling our callback. */
async function codeFor(appId = "web") {
  const start = await startLogin(publicUrl, appId);
  const cb = await new OpBrowser(op.issuer).login(start.location, {
    username: "alice",
    password: "wonderland",
  });
  return { callbackUrl: cb, loginCookie: start.loginCookie };
}

function callback(url: string, cookie?: string) {
  return fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });
}

function tamper(loginCookie: string, change: Record<string, string>, appId = "web"): string {
  const st = JSON.parse(decrypt(ring, loginCookie, `login:${appId}`));
  return encrypt(ring, JSON.stringify({ ...st, ...change }), `login:${appId}`);
}

describe("invariant 1: no token, refresh token or session id in any response body a browser can read in bff mode; no refresh token ever in tokenExchange mode", () => {
  it("bff mode: login, callback, session, token, logout and error bodies carry none", async () => {
    const r = await login(publicUrl, op, "web");
    const at = (await json(await internalToken(bff.internalUrl, "web", r.session))).access_token as string;
    const cookie = { cookie: `__Host-sg-web=${r.session}` };
    const bodies: string[] = [r.callbackBody, await r.loginRes.text()];
    const headers: string[] = [...r.callbackRes.headers]
      .filter(([k]) => k !== "set-cookie")
      .map(([k, v]) => `${k}: ${v}`);
    for (const path of ["session", "token", "nothing", "logout/callback"]) {
      const res = await fetch(`${publicUrl}/auth/web/${path}`, {
        headers: { ...cookie, "x-sessiongate-csrf": "1" },
        redirect: "manual",
      });
      bodies.push(await res.text());
      headers.push(...[...res.headers].filter(([k]) => k !== "set-cookie").map(([k, v]) => `${k}: ${v}`));
    }
    const out = await fetch(`${publicUrl}/auth/web/logout`, { headers: cookie, redirect: "manual" });
    bodies.push(await out.text());
    const all = bodies.join("\n") + headers.join("\n");
    expect(bodies[2]).toContain("alice"); // the session body is there and readable
    expect(all).not.toContain(r.session);
    expect(all).not.toContain(at);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/); // no JWT of any kind
    expect(all).not.toMatch(/refresh_token|id_token|access_token/);
    // The logout redirect to the OP carries the ID token hint in the URL (a server-to-OP
    // redirect, not a readable body), never the access or refresh token.
    expect(out.headers.get("location")).not.toContain(at);
  });

  it("tokenExchange mode: the token endpoint gives only the access token", async () => {
    const r = await login(publicUrl, op, "spa");
    const res = await fetch(`${publicUrl}/auth/spa/token`, {
      headers: { cookie: `__Host-sg-spa=${r.session}`, "x-sessiongate-csrf": "1" },
    });
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(Object.keys(JSON.parse(text)).sort()).toEqual(["access_token", "expires_in", "token_type"]);
    expect(text).not.toMatch(/refresh_token|id_token/);
    expect(text).not.toContain(r.session);
    const s = await (
      await fetch(`${publicUrl}/auth/spa/session`, { headers: { cookie: `__Host-sg-spa=${r.session}` } })
    ).text();
    expect(s).not.toMatch(/refresh_token|access_token|id_token|eyJ/);
  });
});

describe("invariant 2: state, PKCE and nonce checked; a replayed or foreign callback fails", () => {
  it("a replayed callback is refused and writes nothing", async () => {
    const { callbackUrl, loginCookie } = await codeFor();
    const cookie = `__Host-sg-web-login=${loginCookie}`;
    expect((await callback(callbackUrl, cookie)).status).toBe(200);
    const n = (await sessionKeys()).length;
    const again = await callback(callbackUrl, cookie);
    expect(again.status).toBe(400);
    expect(setCookies(again).has("__Host-sg-web")).toBe(false);
    expect(setCookies(again).get("__Host-sg-web-login")?.line).toMatch(/Max-Age=0/);
    expect((await sessionKeys()).length).toBe(n);
  });

  it("a foreign callback (no login state, or another login's state) is refused and writes nothing", async () => {
    const n = (await sessionKeys()).length;
    const { callbackUrl } = await codeFor();
    const other = await startLogin(publicUrl, "web");
    const noState = await callback(callbackUrl);
    expect(noState.status).toBe(400);
    const wrongState = await callback(callbackUrl, `__Host-sg-web-login=${other.loginCookie}`);
    expect(wrongState.status).toBe(400);
    expect((await json(wrongState)).error_description).toMatch(/state/);
    const otherApp = await callback(
      callbackUrl.replace("/auth/web/", "/auth/spa/"),
      `__Host-sg-spa-login=${other.loginCookie}`,
    );
    expect(otherApp.status).toBe(400);
    expect((await sessionKeys()).length).toBe(n);
  });

  it("a wrong PKCE verifier, a wrong nonce or a wrong iss is refused and writes nothing", async () => {
    const n = (await sessionKeys()).length;
    const pkce = await codeFor();
    const r1 = await callback(
      pkce.callbackUrl,
      `__Host-sg-web-login=${tamper(pkce.loginCookie, { v: "x".repeat(43) })}`,
    );
    expect(r1.status).toBe(400);
    expect((await json(r1)).error).toBe("invalid_grant");
    const nonce = await codeFor();
    const r2 = await callback(
      nonce.callbackUrl,
      `__Host-sg-web-login=${tamper(nonce.loginCookie, { n: "not-the-nonce" })}`,
    );
    expect(r2.status).toBe(400);
    expect((await json(r2)).error_description).toMatch(/nonce|claim/);
    const iss = await codeFor();
    const u = new URL(iss.callbackUrl);
    expect(u.searchParams.get("iss")).toBe(op.issuer); // RFC 9207: the OP sends it
    u.searchParams.set("iss", "https://evil.example");
    const r3 = await callback(u.href, `__Host-sg-web-login=${iss.loginCookie}`);
    expect(r3.status).toBe(400);
    expect((await sessionKeys()).length).toBe(n);
  });
});

describe("invariant 3: return_to only to the app's own origin; open redirects refused", () => {
  it.each([
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http://127.0.0.1:1/elsewhere",
    "https://user@evil.example",
    "/ok\r\nSet-Cookie: x=y",
    "data:text/html,hi",
  ])("refuses %j", async (bad) => {
    const res = await fetch(`${publicUrl}/auth/web/login?return_to=${encodeURIComponent(bad)}`, {
      redirect: "manual",
    });
    expect(res.status).toBe(400);
    expect((await json(res)).error).toBe("invalid_return_to");
    expect(res.headers.get("location")).toBeNull();
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it("accepts a path or a URL on the app's origin and lands there after login", async () => {
    const r = await login(publicUrl, op, "web", { returnTo: `${publicUrl}/deep/link?a=b#frag` });
    expect(r.callbackRes.headers.get("refresh")).toBe(`0;url=${publicUrl}/deep/link?a=b#frag`);
  });
});

describe("invariant 4: session id rotated at login; logout deletes the session and revokes the refresh token", () => {
  it("a second login from the same browser gets a new id and ends the old session", async () => {
    const browser = new OpBrowser(op.issuer);
    const a = await login(publicUrl, op, "web", { browser });
    const start = await startLogin(publicUrl, "web");
    const cb = await browser.login(start.location, { username: "alice", password: "wonderland" });
    const res = await callback(cb, `__Host-sg-web=${a.session}; __Host-sg-web-login=${start.loginCookie}`);
    const b = setCookies(res).get("__Host-sg-web")?.value;
    expect(b).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b).not.toBe(a.session);
    expect((await internalToken(bff.internalUrl, "web", a.session)).status).toBe(401);
    expect((await internalToken(bff.internalUrl, "web", b as string)).status).toBe(200);
  });

  it("logout deletes the session from Redis and revokes the refresh token (counted at the OP)", async () => {
    const r = await login(publicUrl, op, "web");
    const n = (await sessionKeys()).length;
    const revoked = op.counts.revocation;
    const res = await fetch(`${publicUrl}/auth/web/logout`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(op.counts.revocation).toBe(revoked + 1);
    expect((await sessionKeys()).length).toBe(n - 1);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
  });
});

describe("sessions at rest", () => {
  it("Redis holds a hash of the session id, never the id, and no token in clear", async () => {
    const r = await login(publicUrl, op, "web");
    const at = (await json(await internalToken(bff.internalUrl, "web", r.session))).access_token as string;
    const keys = await rc.keys("*");
    expect(keys.join(" ")).not.toContain(r.session);
    for (const k of keys) {
      const type = await rc.type(k);
      const v = type === "string" ? ((await rc.get(k)) ?? "") : (await rc.smembers(k)).join(" ");
      expect(v).not.toContain(r.session);
      expect(v).not.toContain(at);
      expect(v).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    }
    const rec = JSON.parse((await rc.get((await sessionKeys())[0])) ?? "{}");
    expect(rec.data).toMatch(/^v1\.k1\./);
    const ttl = await rc.pttl((await sessionKeys())[0]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000); // the idle timeout, not the absolute one
  });

  it("key rotation: a BFF with a new active key still reads sessions sealed with the old one", async () => {
    const r = await login(publicUrl, op, "web");
    const [p2] = await ports(1);
    const cfg = bffConfig({
      publicPort: p2,
      redisUrl,
      issuer: op.issuer,
      apps: [WEB],
      keys: { k1: KEY1, k2: KEY2 },
      active: "k2",
    });
    const rotated = await startBff(validateConfig(cfg), { defaultMetrics: false });
    try {
      expect((await internalToken(rotated.internalUrl, "web", r.session)).status).toBe(200);
    } finally {
      await rotated.close();
    }
    const retired = bffConfig({
      publicPort: p2,
      redisUrl,
      issuer: op.issuer,
      apps: [WEB],
      keys: { k2: KEY2 },
      active: "k2",
    });
    const old = await startBff(validateConfig(retired), { defaultMetrics: false });
    try {
      // Once k1 is retired, its sessions no longer open: "no session", not a crash.
      expect((await internalToken(old.internalUrl, "web", r.session)).status).toBe(401);
    } finally {
      await old.close();
    }
  });
});

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
