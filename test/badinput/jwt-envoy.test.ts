// invariant 9 for tokens: generated bad JWTs through a real Envoy with
// jwt_authn (envoy/wasm-jwt.yaml: wasm filter -> jwt_authn with an inline
// JWKS -> echo). Sent as the client's own Authorization and handed out by the
// BFF stand-in for a session cookie (the filter swaps it in): every one is a
// 401 from jwt_authn and the upstream never sees the request.
import { createPublicKey } from "node:crypto";
import fc from "fast-check";
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { COOKIE, type Stack, startStack } from "../filter/envoy-fixture.js";
import { budget } from "../harness/slowness.js";

const ISSUER = "https://issuer.test";
const AUDIENCE = "demo-api";
const SEED = Number(process.env.BADINPUT_SEED ?? 20261123);
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

type Key = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

function sign(key: Key, claims: JWTPayload, o: { alg?: string; kid?: string } = {}) {
  return new SignJWT({ sub: "alice", iss: ISSUER, aud: AUDIENCE, iat: now(), exp: now() + 300, ...claims })
    .setProtectedHeader({ alg: o.alg ?? "ES256", kid: o.kid ?? "k1" })
    .sign(key);
}

describe("invariant 9: bad JWTs are refused by jwt_authn in Envoy, the upstream never reached", () => {
  let s: Stack;
  let good: string;
  /** Each bad token and the status expected (jwt_authn: 401, but 403 for a wrong audience). */
  const bad: { name: string; token: string; status: number; viaCookie?: number }[] = [];

  beforeAll(async () => {
    const real = await generateKeyPair("ES256", { extractable: true });
    const other = await generateKeyPair("ES256");
    const rsa = await generateKeyPair("RS256");
    const jwk = { ...(await exportJWK(real.publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const jwks = JSON.stringify({ keys: [jwk] });
    good = await sign(real.privateKey, {});
    const rnd = fc.sample(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 61, max: 86_400 })), {
      seed: SEED,
      numRuns: 4,
    });
    const [h, p, sig] = good.split(".");
    const pem = await exportSPKI(real.publicKey);
    const secrets: [string, Uint8Array][] = [
      ["PEM", Buffer.from(pem)],
      ["JWK JSON", Buffer.from(JSON.stringify(jwk))],
      ["DER", createPublicKey(pem).export({ type: "spki", format: "der" })],
    ];
    const add = (name: string, token: string, status = 401, viaCookie?: number) =>
      bad.push({ name, token, status, viaCookie });
    for (const [cut, secs] of rnd) {
      add(
        `expired ${secs}s ago`,
        await sign(real.privateKey, { exp: now() - secs - 60, iat: now() - secs - 120 }),
      );
      add(`not valid for ${secs}s`, await sign(real.privateKey, { nbf: now() + secs + 60 }));
      add(`signature cut by ${cut}`, `${h}.${p}.${sig.slice(0, -cut)}`);
      add(`payload cut by ${cut}`, `${h}.${p.slice(0, -cut)}.${sig}`);
    }
    for (const aud of ["other-api", "", "demo-api-x", "DEMO-API"])
      add(`audience ${JSON.stringify(aud)}`, await sign(real.privateKey, { aud }), 403);
    for (const iss of ["https://evil.test", `${ISSUER}/`, "", "HTTPS://issuer.test"])
      add(`issuer ${JSON.stringify(iss)}`, await sign(real.privateKey, { iss }));
    add("alg none", `${b64({ alg: "none", typ: "JWT" })}.${p}.`);
    add("alg none with the old signature", `${b64({ alg: "none", kid: "k1" })}.${p}.${sig}`);
    for (const [what, secret] of secrets)
      add(
        `HS256 with the public key (${what}) as secret`,
        await new SignJWT({ sub: "alice", iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })
          .setProtectedHeader({ alg: "HS256", kid: "k1" })
          .sign(secret),
      );
    add("wrong key, same kid", await sign(other.privateKey, {}));
    add("wrong key, unknown kid", await sign(other.privateKey, {}, { kid: "k2" }));
    add("RS256 key the JWKS does not have", await sign(rsa.privateKey, {}, { alg: "RS256" }));
    add(
      "payload swapped under the real signature",
      `${h}.${b64({ sub: "mallory", iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}.${sig}`,
    );
    add("signature flipped", `${h}.${p}.${sig.slice(0, 10)}${sig[10] === "A" ? "B" : "A"}${sig.slice(11)}`);
    for (const junk of [
      "abc",
      "a.b",
      "a.b.c",
      "..",
      "...",
      `${h}..${sig}`,
      `${h}.${p}`,
      "eyJhbGciOiJFUzI1NiJ9.e30.",
      `${h}.${p}.${sig}.x`,
      `${b64("not json")}.${p}.${sig}`,
      `${"x".repeat(12_000)}.${p}.${sig}`,
    ])
      add(`malformed ${junk.slice(0, 24)}`, junk);
    // Over the filter's 16 KiB token limit: the filter fails closed (503) before jwt_authn.
    add("malformed, 20 KB", `${"x".repeat(20_000)}.${p}.${sig}`, 401, 503);
    s = await startStack({
      file: "wasm-jwt.yaml",
      name: "envoy-badinput-jwt",
      vars: { JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE, JWKS: jwks },
    });
    s.bff.sessions.set("g".repeat(43), { accessToken: good, expiresIn: 300 });
    for (const [i, b] of bad.entries())
      s.bff.sessions.set(`bad${i}`.padEnd(43, "z"), { accessToken: b.token, expiresIn: 300 });
  });

  it("the good token is accepted both ways (control)", async () => {
    expect((await fetch(`${s.url}/api`, { headers: { authorization: `Bearer ${good}` } })).status).toBe(200);
    expect((await fetch(`${s.url}/api`, { headers: { cookie: `${COOKIE}=${"g".repeat(43)}` } })).status).toBe(
      200,
    );
  });

  it("each generated bad JWT (expired, not yet valid, audience, issuer, alg none, HS256 with the public key, wrong key, cut or altered, malformed) is refused by jwt_authn (401; 403 for a wrong audience) as Authorization and via the session cookie", {
    timeout: budget(120_000),
  }, async () => {
    expect(bad.length).toBeGreaterThanOrEqual(40);
    const failures: string[] = [];
    for (const [i, b] of bad.entries()) {
      for (const how of ["authorization", "cookie"] as const) {
        const before = s.echo.requests.length;
        const headers: Record<string, string> =
          how === "authorization"
            ? { authorization: `Bearer ${b.token}` }
            : { cookie: `${COOKIE}=${`bad${i}`.padEnd(43, "z")}` };
        const res = await fetch(`${s.url}/api/x`, { headers });
        const body = await res.text();
        const want = how === "cookie" ? (b.viaCookie ?? b.status) : b.status;
        if (res.status !== want || s.echo.requests.length !== before)
          failures.push(
            `${b.name} (${how}): ${res.status} ${body.slice(0, 80)}, upstream reached ${s.echo.requests.length - before}`,
          );
        else if (want !== 503 && !/^(Jwt|Jwks|Audiences)/.test(body))
          failures.push(`${b.name} (${how}): ${want} not from jwt_authn: ${body.slice(0, 80)}`);
      }
    }
    expect(failures).toEqual([]);
    // Envoy still serves the good token afterwards.
    expect((await fetch(`${s.url}/api`, { headers: { authorization: `Bearer ${good}` } })).status).toBe(200);
  });
});
