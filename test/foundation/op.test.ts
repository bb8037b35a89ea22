import { createHash, randomBytes } from "node:crypto";
import { createRemoteJWKSet, importJWK, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { completeLogin, freePort, startOP } from "../harness/index.js";

const b64url = (b: Buffer) => b.toString("base64url");

async function clientFixture() {
  const redirectPort = await freePort();
  const client = {
    client_id: "foundation",
    client_secret: "foundation-secret-0123456789",
    redirect_uris: [`http://127.0.0.1:${redirectPort}/cb`],
  };
  return { client, redirectUri: client.redirect_uris[0] };
}

describe("oidc-provider from the harness", () => {
  it("serves discovery and a JWKS", async () => {
    const { client } = await clientFixture();
    const op = await startOP({ clients: [client] });
    const disco = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(disco.issuer).toBe(op.issuer);
    expect(disco.code_challenge_methods_supported).toContain("S256");
    expect(disco.end_session_endpoint).toBeTypeOf("string");
    expect(disco.revocation_endpoint).toBeTypeOf("string");
    expect(disco.backchannel_logout_supported).toBe(true);
    const jwks = (await (await fetch(String(disco.jwks_uri))).json()) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toContain(op.publicJwk.kid);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it("issues a JWT access token (code + PKCE) that verifies with jose, and a refresh token that rotates", async () => {
    const { client, redirectUri } = await clientFixture();
    const op = await startOP({ clients: [client], ttl: 120 });
    const verifier = b64url(randomBytes(32));
    const challenge = b64url(createHash("sha256").update(verifier).digest());
    const state = b64url(randomBytes(16));
    const auth = new URL(`${op.issuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: client.client_id,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: "openid email profile api:read",
      state,
      nonce: b64url(randomBytes(16)),
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    const callback = new URL(
      await completeLogin(auth.toString(), { username: "alice", password: "wonderland" }),
    );
    expect(callback.searchParams.get("state")).toBe(state);
    expect(callback.searchParams.get("iss")).toBe(op.issuer);
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}`;
    const tokenRes = await fetch(`${op.issuer}/token`, {
      method: "POST",
      headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: callback.searchParams.get("code") ?? "",
        redirect_uri: redirectUri,
        code_verifier: verifier,
      }),
    });
    expect(tokenRes.status).toBe(200);
    const tokens = (await tokenRes.json()) as {
      access_token: string;
      refresh_token?: string;
      id_token: string;
    };
    const jwks = createRemoteJWKSet(new URL(op.jwksUri));
    const { payload } = await jwtVerify(tokens.access_token, jwks, {
      issuer: op.issuer,
      audience: op.audience,
    });
    expect(payload.sub).toBe("alice");
    expect(payload.email).toBe("alice@example.test");
    expect(op.counts.authorization_code).toBe(1);

    // A token signed with another key does not verify.
    const forgedKey = await importJWK(
      { ...op.publicJwk, kty: "oct", k: b64url(randomBytes(32)), alg: "HS256" },
      "HS256",
    );
    const forged = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "HS256", kid: op.publicJwk.kid })
      .sign(forgedKey);
    await expect(jwtVerify(forged, jwks, { issuer: op.issuer })).rejects.toThrow();

    // Refresh with rotation: the old refresh token is spent.
    expect(tokens.refresh_token).toBeTypeOf("string");
    const refresh = (rt: string) =>
      fetch(`${op.issuer}/token`, {
        method: "POST",
        headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: rt }),
      });
    const first = await refresh(tokens.refresh_token ?? "");
    expect(first.status).toBe(200);
    const rotated = (await first.json()) as { refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect(op.counts.refresh_token).toBe(1);
    const replay = await refresh(tokens.refresh_token ?? "");
    expect(replay.status).toBe(400);
  });

  it("refuses wrong credentials at the login form", async () => {
    const { client, redirectUri } = await clientFixture();
    const op = await startOP({ clients: [client] });
    const auth = `${op.issuer}/auth?${new URLSearchParams({
      client_id: client.client_id,
      response_type: "code",
      redirect_uri: redirectUri,
      scope: "openid",
      code_challenge: b64url(createHash("sha256").update("x".repeat(43)).digest()),
      code_challenge_method: "S256",
    })}`;
    await expect(completeLogin(auth, { username: "alice", password: "nope" })).rejects.toThrow(/refused/);
  });
});
