// The login: Authorization Code with PKCE (S256), state and nonce, then a new
// session. startLogin makes the authorization request and the sealed login
// state; completeLogin checks the callback against it, exchanges the code and
// rotates the session. Nothing is written before the callback's checks pass.
import * as oidc from "openid-client";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import { isOpUnavailable } from "./client.js";
import type { OidcContext } from "./context.js";
import { openLoginState, sealLoginState } from "./login-state.js";
import { validateReturnTo } from "./return-to.js";
import { tokenSetFrom } from "./tokens.js";

export interface LoginStart {
  /** Where the browser goes: the provider's authorization endpoint. */
  authorizationUrl: string;
  /** The sealed login state, for the login cookie. */
  loginState: string;
  /** How long the login cookie lives. */
  maxAgeS: number;
}

export interface LoginCallback {
  /** The callback's query string as received (`?code=…&state=…`). */
  query: string;
  /** The login cookie's value, if the browser sent one. */
  loginState: string | undefined;
  /** The session this browser already has (a well-formed session id), ended by the new login. */
  previousSessionId: string | null;
}

export interface LoginDone {
  /** The new session's id: the session cookie's value. */
  sessionId: string;
  returnTo: string;
}

// Technical ID-token claims that are not "user info".
const NOT_USER = new Set([
  "iss",
  "aud",
  "exp",
  "iat",
  "nbf",
  "nonce",
  "at_hash",
  "c_hash",
  "s_hash",
  "auth_time",
  "azp",
  "sid",
  "acr",
  "amr",
  "jti",
]);

export function userClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!NOT_USER.has(k)) out[k] = v;
  return out;
}

/** `returnTo`: the raw `return_to` (null when absent); invalid_return_to unless on the app's origins. */
export async function startLogin(
  oc: Pick<OidcContext, "clients" | "ring" | "loginTimeoutS">,
  app: AppConfig,
  returnTo: string | null,
): Promise<LoginStart> {
  const target = validateReturnTo(returnTo, app.publicOrigin, app.allowedOrigins);
  if (!target)
    throw new SessiongateError(
      "invalid_return_to",
      "return_to must be a path or a URL on the app's own origin",
    );
  const config = await oc.clients.get(app);
  const st = {
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    pkceVerifier: oidc.randomPKCECodeVerifier(),
    returnTo: target,
    expiresAt: Date.now() + oc.loginTimeoutS * 1000,
  };
  const authUrl = oidc.buildAuthorizationUrl(config, {
    ...app.authParams,
    redirect_uri: app.redirectUri,
    scope: app.scopes.join(" "),
    response_type: "code",
    code_challenge: await oidc.calculatePKCECodeChallenge(st.pkceVerifier),
    code_challenge_method: "S256",
    state: st.state,
    nonce: st.nonce,
  });
  return {
    authorizationUrl: authUrl.href,
    loginState: sealLoginState(oc.ring, app.id, st),
    maxAgeS: oc.loginTimeoutS,
  };
}

type CallbackContext = Pick<OidcContext, "metrics" | "log">;
type CodeGrant = Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;

/**
 * RFC 9207 before anything is written: a response from another issuer (a mix-up
 * attack) must not even use up the state, so the genuine callback still works.
 */
export function checkIssuer(
  oc: CallbackContext,
  app: AppConfig,
  config: oidc.Configuration,
  params: URLSearchParams,
): void {
  const iss = params.getAll("iss");
  if (iss.length > 1 || (iss.length === 1 && iss[0] !== config.serverMetadata().issuer)) {
    oc.metrics.logins.inc({ app: app.id, result: "iss_mismatch" });
    throw new SessiongateError("iss_mismatch", "iss does not match the provider (RFC 9207)");
  }
}

/** The provider's `error` answer, counted: its code is passed on only when printable. */
export function providerRefused(oc: CallbackContext, app: AppConfig, opError: string): SessiongateError {
  oc.metrics.logins.inc({ app: app.id, result: "op_error" });
  return new SessiongateError(
    "provider_error",
    "the identity provider refused the login",
    /^[\x20-\x7e]{1,64}$/.test(opError) ? opError : "access_denied",
  );
}

/**
 * The code exchange of a callback at `redirectUri` (the configured one, never
 * built from the Host header), checked against the login's PKCE verifier, state
 * and nonce; an ID token is required. A provider that cannot be reached is
 * `idp_unavailable`, anything else it or the checks refuse is `invalid_grant`.
 */
export async function exchangeCode(
  oc: CallbackContext,
  app: AppConfig,
  config: oidc.Configuration,
  redirectUri: string,
  query: string,
  login: { pkceVerifier: string; state: string; nonce: string },
  log: { what: string; group?: string },
): Promise<{ tokens: CodeGrant; claims: oidc.IDToken }> {
  const current = new URL(redirectUri);
  current.search = query;
  let tokens: CodeGrant;
  try {
    tokens = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: login.pkceVerifier,
      expectedState: login.state,
      expectedNonce: login.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    if (isOpUnavailable(err)) throw new SessiongateError("idp_unavailable", (err as Error).message);
    oc.metrics.logins.inc({ app: app.id, result: "rejected" });
    const group = log.group === undefined ? {} : { group: log.group };
    oc.log.info({ app: app.id, ...group, err: (err as Error).message }, log.what);
    throw new SessiongateError("invalid_grant", (err as Error).message);
  }
  const claims = tokens.claims();
  if (!claims) throw new SessiongateError("invalid_grant", "no ID token");
  return { tokens, claims };
}

export async function completeLogin(
  oc: Pick<OidcContext, "clients" | "store" | "ring" | "loginTimeoutS" | "metrics" | "log">,
  app: AppConfig,
  cb: LoginCallback,
): Promise<LoginDone> {
  const { metrics, store } = oc;
  const params = new URLSearchParams(cb.query);
  const state = params.get("state");
  if (!state || params.getAll("state").length !== 1)
    throw new SessiongateError("invalid_request", "state missing");
  const st = openLoginState(oc.ring, app.id, cb.loginState);
  if (state !== st.state) {
    metrics.logins.inc({ app: app.id, result: "state_mismatch" });
    throw new SessiongateError("state_mismatch", "state mismatch (foreign callback)");
  }
  const config = await oc.clients.get(app);
  checkIssuer(oc, app, config, params);
  const opError = params.get("error");
  if (opError) throw providerRefused(oc, app, opError);
  // One use per state, across replicas: a replayed callback is refused even if the
  // OP would not notice (e.g. a code it has not yet marked as used).
  if (!(await store.once(`state:${app.id}:${st.state}`, oc.loginTimeoutS * 1000))) {
    metrics.logins.inc({ app: app.id, result: "replay" });
    throw new SessiongateError("callback_replayed", "callback already used");
  }
  // Rebuild the URL from the configured redirect_uri, never from the Host header.
  const { tokens, claims } = await exchangeCode(oc, app, config, app.redirectUri, cb.query, st, {
    what: "callback rejected",
  });
  // Rotate: a session cookie this browser already had is ended, a fresh id issued.
  if (cb.previousSessionId) {
    const prev = await store.load(app.id, cb.previousSessionId);
    if (prev) await store.remove(prev);
  }
  const sid = typeof claims.sid === "string" ? claims.sid : undefined;
  const sessionId = await store.create(app.id, claims.sub, sid, {
    tokens: tokenSetFrom(tokens),
    user: userClaims(claims),
  });
  metrics.logins.inc({ app: app.id, result: "ok" });
  oc.log.info({ app: app.id, sub: claims.sub }, "login completed");
  return { sessionId, returnTo: st.returnTo };
}
