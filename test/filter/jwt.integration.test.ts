// jwt_authn after the filter: the swapped-in token is checked by Envoy itself
// against a JWKS served inline (signed here with jose).
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { COOKIE, type Stack, startStack } from "./envoy-fixture.js";

const ISSUER = "https://issuer.test";
const AUDIENCE = "demo-api";

async function signer() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const sign = (claims: Record<string, unknown>, iss = ISSUER) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(iss)
      .setAudience(AUDIENCE)
      .setSubject("alice")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
  return { jwks: JSON.stringify({ keys: [jwk] }), sign, privateKey };
}

describe("session-to-token -> jwt_authn in Envoy", () => {
  let s: Stack;
  let good: string;
  let forged: string;
  beforeAll(async () => {
    const real = await signer();
    const attacker = await signer(); // same kid, different key: a forgery
    good = await real.sign({ scope: "api" });
    forged = await attacker.sign({ scope: "api" });
    s = await startStack({
      file: "wasm-jwt.yaml",
      name: "envoy-jwt",
      vars: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWKS: real.jwks },
    });
    s.bff.sessions.set("g".repeat(43), { accessToken: good, expiresIn: 300 });
    s.bff.sessions.set("f".repeat(43), { accessToken: forged, expiresIn: 300 });
  });

  it("accepts the token the filter swapped in and forwards its claims", async () => {
    const res = await fetch(`${s.url}/api/me`, { headers: { cookie: `${COOKIE}=${"g".repeat(43)}` } });
    expect(res.status).toBe(200);
    const got = s.echo.requests.at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${good}`);
    expect(got.headers["x-jwt-sub"]).toBe("alice");
    expect(got.headers.cookie).toBeUndefined();
  });

  it("rejects a forged token even when the session service hands it out", async () => {
    const n = s.echo.requests.length;
    const res = await fetch(`${s.url}/api/me`, { headers: { cookie: `${COOKIE}=${"f".repeat(43)}` } });
    expect(res.status).toBe(401);
    expect(s.echo.requests.length).toBe(n);
  });

  it("leaves the decision to jwt_authn when there is no cookie", async () => {
    const n = s.echo.requests.length;
    expect((await fetch(`${s.url}/api/me`)).status).toBe(401);
    const own = await fetch(`${s.url}/api/me`, { headers: { authorization: `Bearer ${good}` } });
    expect(own.status).toBe(200);
    expect(s.echo.requests.length).toBe(n + 1);
  });
});
