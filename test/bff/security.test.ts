// Security invariants (docs/architecture.md#security-invariants) that concern the BFF (1-4; 9 is in invariant9.test.ts),
// plus the at-rest properties of the session store.
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { decrypt, encrypt, type KeyRing } from "../../bff/session/crypto.js";
import { OpBrowser, type OpHandle } from "../harness/index.js";
import {
  bffConfig,
  internalToken,
  json,
  KEY1,
  KEY2,
  login,
  ports,
  sessionKeys as sessionKeysOf,
  setCookies,
  startLogin,
  startTwoAppBff,
  WEB,
} from "./helpers.js";

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let redisUrl: string;
let rc: Redis;
const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", Buffer.from(KEY1, "base64")]]),
  hashKey: Buffer.alloc(0),
};

beforeAll(async () => {
  ({ op, bff, publicUrl, redisUrl, rc } = await startTwoAppBff());
});

const sessionKeys = () => sessionKeysOf(rc);
/**
 * A JWT's header and payload (base64url JSON, so both start "eyJ", joined by a dot).
 * A bare "eyJ…" run also matches random base64url ciphertext by chance.
 */
const JWT_SHAPE = /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}/;

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
    const out = await fetch(`${publicUrl}/auth/web/logout`, {
      method: "POST",
      headers: { ...cookie, origin: publicUrl },
      redirect: "manual",
    });
    bodies.push(await out.text());
    const all = bodies.join("\n") + headers.join("\n");
    expect(bodies[2]).toContain("alice"); // the session body is there and readable
    expect(all).not.toContain(r.session);
    expect(all).not.toContain(at);
    expect(all).not.toMatch(JWT_SHAPE); // no JWT of any kind
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

describe("invariant 4: session id rotated at login; logout deletes the session and ends the refresh token", () => {
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

  it("logout deletes the session from Redis; the provider's end-session then ends the refresh token's grant (counted at the OP)", async () => {
    const r = await login(publicUrl, op, "web");
    const n = (await sessionKeys()).length;
    const [revoked, grantsEnded] = [op.counts.revocation, op.counts.grant_revoked];
    // A GET (a link, a same-site page) is never a logout: a page with a button, nothing ended.
    const get = await fetch(`${publicUrl}/auth/web/logout`, {
      headers: { cookie: `__Host-sg-web=${r.session}`, "sec-fetch-site": "same-site" },
      redirect: "manual",
    });
    expect(get.status).toBe(200);
    expect(get.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await get.text()).toContain('<form method="post">');
    expect((await sessionKeys()).length).toBe(n);
    expect(op.counts.revocation).toBe(revoked);
    // The app's own POST ends it.
    const res = await fetch(`${publicUrl}/auth/web/logout`, {
      method: "POST",
      headers: { cookie: `__Host-sg-web=${r.session}`, origin: publicUrl },
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect((await sessionKeys()).length).toBe(n - 1);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
    // An online grant is not revoked before end-session (that would end the
    // provider's session first, an error at end-session): end-session ends it.
    expect(op.counts.revocation).toBe(revoked);
    const endSession = res.headers.get("location") ?? "";
    expect(endSession.startsWith(`${op.issuer}/`)).toBe(true);
    await r.op.logout(endSession);
    expect(op.counts.grant_revoked).toBe(grantsEnded + 1);
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
      expect(v).not.toMatch(JWT_SHAPE);
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
