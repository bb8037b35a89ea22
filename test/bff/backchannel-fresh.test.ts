// Back-channel logout tokens are fresh (OpenID Back-Channel Logout 1.0 §2.6):
// exp required and not passed, iat neither in the future nor older than the
// bound, jti required and remembered until exp, so a captured token cannot be
// replayed. Tokens are signed with the harness OP's own signing key (the key
// its JWKS publishes), so only the claims under test differ from a real one.
import { importJWK, type JWTPayload, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { MAX_LOGOUT_TOKEN_AGE_S } from "../../bff/oidc/logout-token.js";
import { type OpHandle, startOP, startRedis } from "../harness/index.js";
import { bffConfig, internalToken, json, login, opClient, ports, type TestApp } from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const EVENT = { "http://schemas.openid.net/event/backchannel-logout": {} };

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  op = await startOP({ clients: [opClient(publicUrl, WEB)], ttl: 120 });
  bff = await startBff(
    validateConfig(bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB] })),
    { defaultMetrics: false },
  );
});

afterAll(async () => {
  await bff?.close();
});

let n = 0;
async function logoutToken(
  sub: string,
  claims: { iat?: number | null; exp?: number | null; jti?: string | null },
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub, events: EVENT };
  const jti = claims.jti === undefined ? `jti-${Date.now()}-${n++}` : claims.jti;
  if (jti !== null) payload.jti = jti;
  const iat = claims.iat === undefined ? now : claims.iat;
  if (iat !== null) payload.iat = iat;
  const exp = claims.exp === undefined ? now + 120 : claims.exp;
  if (exp !== null) payload.exp = exp;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "RS256", kid: op.signingJwk.kid, typ: "logout+jwt" })
    .setIssuer(op.issuer)
    .setAudience("client-web")
    .sign(await importJWK(op.signingJwk, "RS256"));
}

const post = (token: string) =>
  fetch(`${publicUrl}/auth/web/backchannel-logout`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `logout_token=${token}`,
  });

describe("back-channel logout tokens are fresh (§2.6)", () => {
  const now = () => Math.floor(Date.now() / 1000);
  it.each([
    ["iat one hour in the future", () => ({ iat: now() + 3600, exp: now() + 7200 })],
    ["two days old, without exp", () => ({ iat: now() - 2 * 86400, exp: null })],
    ["fresh iat without exp", () => ({ exp: null })],
    ["exp passed", () => ({ iat: now() - 200, exp: now() - 100 })],
    [
      "iat older than the bound, exp still ahead",
      () => ({ iat: now() - MAX_LOGOUT_TOKEN_AGE_S - 120, exp: now() + 3600 }),
    ],
    ["no jti", () => ({ jti: null })],
    ["no iat", () => ({ iat: null })],
  ] as [string, () => Parameters<typeof logoutToken>[1]][])(
    "refuses a logout token with %s (400) and keeps the session",
    async (_name, claims) => {
      const r = await login(publicUrl, op, "web");
      const res = await post(await logoutToken("alice", claims()));
      expect(res.status).toBe(400);
      expect((await json(res)).error).toBe("invalid_request");
      expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
    },
  );

  it("accepts a fresh token once: it ends the session, and its replay is refused", async () => {
    const r = await login(publicUrl, op, "web", { user: "bob", password: "builder" });
    const token = await logoutToken("bob", {});
    expect((await post(token)).status).toBe(200);
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
    // A new session of the same user: the captured token must not end it.
    const again = await login(publicUrl, op, "web", { user: "bob", password: "builder" });
    const replay = await post(token);
    expect(replay.status).toBe(400);
    expect((await json(replay)).error_description).toMatch(/replayed/);
    expect((await internalToken(bff.internalUrl, "web", again.session)).status).toBe(200);
  });
});
