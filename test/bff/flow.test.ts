// End-to-end BFF flows against a real oidc-provider and a real redis-server.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { OpBrowser, type OpHandle, type RedisHandle, startOP, startRedis } from "../harness/index.js";
import {
  bffConfig,
  internalToken,
  json,
  login,
  opClient,
  ports,
  setCookies,
  type TestApp,
} from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const SPA: TestApp = { id: "spa", mode: "tokenExchange", secret: "spa-secret-0123456789abcdef" };

let op: OpHandle;
let redis: RedisHandle;
let bff: RunningBff;
let publicUrl: string;
let cfg: Record<string, unknown>;

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  redis = await startRedis();
  op = await startOP({ clients: [opClient(publicUrl, WEB), opClient(publicUrl, SPA)], ttl: 120 });
  cfg = bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB, SPA] });
  bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
});

afterAll(async () => {
  await bff?.close();
});

describe("login", () => {
  it("bff mode: login, session info, internal token verifies against the OP's JWKS", async () => {
    const r = await login(publicUrl, op, "web", { returnTo: "/app/home?x=1" });
    expect(r.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.cookieLine).toMatch(/HttpOnly/);
    expect(r.cookieLine).toMatch(/Secure/);
    expect(r.cookieLine).toMatch(/SameSite=Strict/);
    expect(r.cookieLine).toMatch(/Path=\//);
    expect(r.callbackRes.headers.get("refresh")).toBe(`0;url=${publicUrl}/app/home?x=1`);
    const s = await fetch(`${publicUrl}/auth/web/session`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
    });
    expect(s.status).toBe(200);
    const info = await json(s);
    expect(info).toMatchObject({
      authenticated: true,
      app: "web",
      sub: "alice",
      user: { email: "alice@example.test" },
    });
    const t = await internalToken(bff.internalUrl, "web", r.session);
    expect(t.status).toBe(200);
    const body = await json(t);
    expect(body.token_type).toBe("Bearer");
    expect(body.expires_in).toBeGreaterThan(100);
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(op.jwksUri)), {
      issuer: op.issuer,
    });
    expect(payload.sub).toBe("alice");
    expect(op.counts.authorization_code).toBeGreaterThanOrEqual(1);
  });
});

describe("tokenExchange mode", () => {
  it("gives JavaScript a short-lived access token (CSRF header + same origin), never a refresh token", async () => {
    const r = await login(publicUrl, op, "spa");
    const cookie = `__Host-sg-spa=${r.session}`;
    const noHeader = await fetch(`${publicUrl}/auth/spa/token`, { headers: { cookie } });
    expect(noHeader.status).toBe(403);
    expect((await json(noHeader)).error).toBe("csrf_header_required");
    const foreign = await fetch(`${publicUrl}/auth/spa/token`, {
      headers: { cookie, "x-sessiongate-csrf": "1", origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    const crossSite = await fetch(`${publicUrl}/auth/spa/token`, {
      headers: { cookie, "x-sessiongate-csrf": "1", "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    const ok = await fetch(`${publicUrl}/auth/spa/token`, {
      headers: { cookie, "x-sessiongate-csrf": "1", origin: publicUrl, "sec-fetch-site": "same-origin" },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("cache-control")).toBe("no-store");
    const body = await json(ok);
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "token_type"]);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.expires_in).toBeLessThanOrEqual(120);
    const none = await fetch(`${publicUrl}/auth/spa/token`, { headers: { "x-sessiongate-csrf": "1" } });
    expect(none.status).toBe(401);
  });

  it("the token endpoint does not exist for a bff-mode app", async () => {
    const r = await login(publicUrl, op, "web");
    const res = await fetch(`${publicUrl}/auth/web/token`, {
      headers: { cookie: `__Host-sg-web=${r.session}`, "x-sessiongate-csrf": "1" },
    });
    expect(res.status).toBe(404);
    expect(JSON.stringify(await json(res))).not.toContain("eyJ");
  });
});

describe("logout", () => {
  it("RP-initiated logout deletes the session and ends the OP session, and with it the refresh token's grant", async () => {
    const r = await login(publicUrl, op, "web");
    const cookie = `__Host-sg-web=${r.session}`;
    const [revokedBefore, grantsEnded] = [op.counts.revocation, op.counts.grant_revoked];
    const res = await fetch(`${publicUrl}/auth/web/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, origin: publicUrl },
    });
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get("location") ?? "");
    expect(loc.origin).toBe(op.issuer);
    expect(loc.searchParams.get("post_logout_redirect_uri")).toBe(`${publicUrl}/auth/web/logout/callback`);
    expect(loc.searchParams.get("id_token_hint")).toBeTruthy();
    expect(setCookies(res).get("__Host-sg-web")?.line).toMatch(/Max-Age=0/);
    // Not revoked first: that would end the OP session before end-session names it.
    expect(op.counts.revocation).toBe(revokedBefore);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
    expect((await fetch(`${publicUrl}/auth/web/session`, { headers: { cookie } })).status).toBe(401);
    // The OP's confirmation page, then back to our logout callback, then the app's origin.
    const endedBefore = op.counts.end_session;
    const back = await r.op.logout(loc.href);
    expect(back).toBe(`${publicUrl}/auth/web/logout/callback`);
    expect(op.counts.end_session).toBe(endedBefore + 1);
    expect(op.counts.grant_revoked).toBe(grantsEnded + 1);
    const cb = await fetch(back, { redirect: "manual" });
    expect(cb.status).toBe(302);
    expect(cb.headers.get("location")).toBe(`${publicUrl}/`);
  });

  it("a cross-site POST logout is refused and changes nothing", async () => {
    const r = await login(publicUrl, op, "web");
    const res = await fetch(`${publicUrl}/auth/web/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `__Host-sg-web=${r.session}`, origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
  });

  it("back-channel logout from the OP removes the session of that OP session (sid)", async () => {
    const browser = new OpBrowser(op.issuer);
    const a = await login(publicUrl, op, "web", { browser });
    const b = await login(publicUrl, op, "spa", { browser });
    const other = await login(publicUrl, op, "web", { user: "bob", password: "builder" });
    const before = op.counts.backchannel_logout;
    // The user signs out at the OP directly (not through the BFF): the OP notifies every client.
    const end = new URL(`${op.issuer}/session/end`);
    end.searchParams.set("client_id", "client-spa");
    end.searchParams.set("post_logout_redirect_uri", `${publicUrl}/auth/spa/logout/callback`);
    expect(await browser.logout(end.href)).toBe(`${publicUrl}/auth/spa/logout/callback`);
    expect(op.counts.backchannel_logout).toBeGreaterThanOrEqual(before + 2);
    expect((await internalToken(bff.internalUrl, "web", a.session)).status).toBe(401);
    expect((await internalToken(bff.internalUrl, "spa", b.session)).status).toBe(401);
    // Bob's session, another OP session, lives on.
    expect((await internalToken(bff.internalUrl, "web", other.session)).status).toBe(200);
  });

  it("a forged or malformed logout_token is refused with 400 and removes nothing", async () => {
    const r = await login(publicUrl, op, "web");
    const { SignJWT, generateKeyPair } = await import("jose");
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({
      sub: "alice",
      events: { "http://schemas.openid.net/event/backchannel-logout": {} },
      jti: "x1",
    })
      .setProtectedHeader({ alg: "RS256", kid: op.publicJwk.kid })
      .setIssuer(op.issuer)
      .setAudience("client-web")
      .setIssuedAt()
      .sign(privateKey);
    for (const body of [`logout_token=${forged}`, "logout_token=not.a.jwt", "nothing=here", ""]) {
      const res = await fetch(`${publicUrl}/auth/web/backchannel-logout`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      expect(res.status).toBe(400);
      expect((await json(res)).error).toBe("invalid_request");
    }
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
  });
});

describe("durability", () => {
  it("a BFF restart loses no session (same Redis)", async () => {
    const r = await login(publicUrl, op, "web");
    const before = await json(await internalToken(bff.internalUrl, "web", r.session));
    await bff.close();
    bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
    const res = await internalToken(bff.internalUrl, "web", r.session);
    expect(res.status).toBe(200);
    expect((await json(res)).access_token).toBe(before.access_token);
    const s = await fetch(`${publicUrl}/auth/web/session`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
    });
    expect(s.status).toBe(200);
  });
});

describe("timeouts", () => {
  it("idle timeout ends an unused session; absolute timeout ends a used one", async () => {
    const [p2] = await ports(1);
    const url = `http://127.0.0.1:${p2}`;
    const op2 = await startOP({ clients: [opClient(url, WEB)], ttl: 120 });
    const c = bffConfig({ publicPort: p2, redisUrl: redis.url, issuer: op2.issuer, apps: [WEB] });
    c.session = { idle_timeout_s: 3, absolute_timeout_s: 6, refresh_skew_s: 5 };
    const b = await startBff(validateConfig(c), { defaultMetrics: false });
    try {
      const idle = await login(url, op2, "web");
      const busy = await login(url, op2, "web");
      const t0 = Date.now();
      const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, t0 + ms - Date.now())));
      for (const ms of [1500, 3000, 4500]) {
        await at(ms);
        expect((await internalToken(b.internalUrl, "web", busy.session)).status, `busy at ${ms} ms`).toBe(
          200,
        );
      }
      expect((await internalToken(b.internalUrl, "web", idle.session)).status).toBe(401);
      await at(6400);
      expect((await internalToken(b.internalUrl, "web", busy.session)).status).toBe(401);
    } finally {
      await b.close();
    }
  });
});
