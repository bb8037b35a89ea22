// OIDC Back-Channel Logout 1.0 §2.6: validate a logout_token against the OP's JWKS.
// openid-client v6 has no helper for it, so jose does the signature and claim checks.
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from "jose";
import type { Configuration } from "openid-client";

const EVENT = "http://schemas.openid.net/event/backchannel-logout";
const jwksCache = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

export class LogoutTokenError extends Error {}

export interface LogoutClaims {
  iss: string;
  sub?: string;
  sid?: string;
  jti: string;
  exp: number;
}

/**
 * How old a logout token may be (its `iat`). The OP sends it at logout time;
 * an older one is a captured token, refused even when its `exp` is far off.
 */
export const MAX_LOGOUT_TOKEN_AGE_S = 300;

export async function verifyLogoutToken(
  config: Configuration,
  token: string,
  clockToleranceS: number,
): Promise<LogoutClaims> {
  const meta = config.serverMetadata();
  if (!meta.jwks_uri) throw new LogoutTokenError("provider has no jwks_uri");
  let jwks = jwksCache.get(meta.jwks_uri);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(meta.jwks_uri));
    jwksCache.set(meta.jwks_uri, jwks);
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      issuer: meta.issuer,
      audience: config.clientMetadata().client_id,
      // §2.6: fresh tokens only. exp must be there (jose checks it has not passed),
      // jti is remembered until exp (the replay check in the handler).
      requiredClaims: ["iat", "jti", "exp"],
      clockTolerance: clockToleranceS,
      typ: undefined,
    }));
  } catch (err) {
    throw new LogoutTokenError(`logout_token rejected: ${(err as Error).message}`);
  }
  const now = Math.floor(Date.now() / 1000);
  const iat = payload.iat as number;
  if (iat > now + clockToleranceS) throw new LogoutTokenError("logout_token iat is in the future");
  if (now - iat > MAX_LOGOUT_TOKEN_AGE_S + clockToleranceS)
    throw new LogoutTokenError(`logout_token is older than ${MAX_LOGOUT_TOKEN_AGE_S} s (iat)`);
  if (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > 256)
    throw new LogoutTokenError("logout_token jti must be a non-empty string");
  const events = payload.events as Record<string, unknown> | undefined;
  if (!events || typeof events !== "object" || typeof events[EVENT] !== "object") {
    throw new LogoutTokenError("logout_token lacks the back-channel-logout event");
  }
  if ("nonce" in payload) throw new LogoutTokenError("logout_token must not contain a nonce");
  const sid = typeof payload.sid === "string" ? payload.sid : undefined;
  const sub = typeof payload.sub === "string" ? payload.sub : undefined;
  if (!sid && !sub) throw new LogoutTokenError("logout_token has neither sid nor sub");
  return { iss: payload.iss as string, sub, sid, jti: payload.jti, exp: payload.exp as number };
}
