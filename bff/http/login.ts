// login and callback. The login state (state, nonce, PKCE verifier, return_to)
// lives in a short-lived encrypted HttpOnly cookie, so nothing is written to the
// session store before the callback succeeds. That cookie is SameSite=Lax: it must
// come back on the OP's cross-site redirect to the callback.

import type { IncomingMessage, ServerResponse } from "node:http";
import * as oidc from "openid-client";
import { isSessionId, loginCookieName as loginCookie } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { isOpUnavailable } from "../oidc/client.js";
import { tokenSetFrom } from "../oidc/tokens.js";
import { DecryptError, decrypt, encrypt } from "../session/crypto.js";
import type { Ctx } from "./context.js";
import { validateReturnTo } from "./return-to.js";
import { clearCookie, HttpError, parseCookies, redirect, serializeCookie } from "./util.js";

interface LoginState {
  s: string; // state
  n: string; // nonce
  v: string; // PKCE verifier
  r: string; // return_to (validated)
  e: number; // expiry, epoch ms
}

export const loginCookieName = (app: AppConfig) => loginCookie(app.cookie);

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

export async function login(
  ctx: Ctx,
  app: AppConfig,
  _req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const returnTo = validateReturnTo(url.searchParams.get("return_to"), app.publicOrigin, app.allowedOrigins);
  if (!returnTo)
    throw new HttpError(
      400,
      "invalid_return_to",
      "return_to must be a path or a URL on the app's own origin",
    );
  const config = await ctx.clients.get(app);
  const st: LoginState = {
    s: oidc.randomState(),
    n: oidc.randomNonce(),
    v: oidc.randomPKCECodeVerifier(),
    r: returnTo,
    e: Date.now() + ctx.config.loginTimeoutS * 1000,
  };
  const authUrl = oidc.buildAuthorizationUrl(config, {
    ...app.authParams,
    redirect_uri: app.redirectUri,
    scope: app.scopes.join(" "),
    response_type: "code",
    code_challenge: await oidc.calculatePKCECodeChallenge(st.v),
    code_challenge_method: "S256",
    state: st.s,
    nonce: st.n,
  });
  const cookie = serializeCookie(
    loginCookieName(app),
    encrypt(ctx.ring, JSON.stringify(st), `login:${app.id}`),
    {
      sameSite: "Lax",
      maxAgeS: ctx.config.loginTimeoutS,
    },
  );
  redirect(res, authUrl.href, [cookie]);
}

function readLoginState(ctx: Ctx, app: AppConfig, req: IncomingMessage): LoginState {
  const raw = parseCookies(req.headers.cookie).get(loginCookieName(app));
  if (!raw)
    throw new HttpError(
      400,
      "invalid_request",
      "no login in progress for this browser (foreign or replayed callback)",
    );
  let st: LoginState;
  try {
    st = JSON.parse(decrypt(ctx.ring, raw, `login:${app.id}`)) as LoginState;
  } catch (err) {
    if (err instanceof DecryptError || err instanceof SyntaxError)
      throw new HttpError(400, "invalid_request", "login state unreadable");
    throw err;
  }
  if (typeof st.e !== "number" || st.e < Date.now())
    throw new HttpError(400, "invalid_request", "login expired; start again");
  return st;
}

function userClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!NOT_USER.has(k)) out[k] = v;
  return out;
}

export async function callback(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    await completeCallback(ctx, app, req, res, url);
  } catch (err) {
    // A refused callback also drops the (now useless) login-state cookie, unless the
    // state simply did not match: then it may belong to a login still in progress.
    if (err instanceof HttpError && !/state mismatch/.test(err.detail ?? "")) {
      throw new HttpError(err.status, err.code, err.detail, {
        "set-cookie": clearCookie(loginCookieName(app), "Lax"),
      });
    }
    throw err;
  }
}

async function completeCallback(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const state = url.searchParams.get("state");
  if (!state || url.searchParams.getAll("state").length !== 1)
    throw new HttpError(400, "invalid_request", "state missing");
  const st = readLoginState(ctx, app, req);
  const clearLogin = clearCookie(loginCookieName(app), "Lax");
  if (state !== st.s) {
    ctx.metrics.logins.inc({ app: app.id, result: "state_mismatch" });
    throw new HttpError(400, "invalid_request", "state mismatch (foreign callback)");
  }
  const config = await ctx.clients.get(app);
  // RFC 9207 before anything is written: a response from another issuer (a mix-up
  // attack) must not even use up the state, so the genuine callback still works.
  const iss = url.searchParams.getAll("iss");
  if (iss.length > 1 || (iss.length === 1 && iss[0] !== config.serverMetadata().issuer)) {
    ctx.metrics.logins.inc({ app: app.id, result: "iss_mismatch" });
    throw new HttpError(400, "invalid_request", "iss does not match the provider (RFC 9207)");
  }
  const opError = url.searchParams.get("error");
  if (opError) {
    ctx.metrics.logins.inc({ app: app.id, result: "op_error" });
    throw new HttpError(
      400,
      /^[\x20-\x7e]{1,64}$/.test(opError) ? opError : "access_denied",
      "the identity provider refused the login",
    );
  }
  // One use per state, across replicas: a replayed callback is refused even if the
  // OP would not notice (e.g. a code it has not yet marked as used).
  if (!(await ctx.store.once(`state:${app.id}:${st.s}`, ctx.config.loginTimeoutS * 1000))) {
    ctx.metrics.logins.inc({ app: app.id, result: "replay" });
    throw new HttpError(400, "invalid_request", "callback already used");
  }
  // Rebuild the URL from the configured redirect_uri, never from the Host header.
  const current = new URL(app.redirectUri);
  current.search = url.search;
  let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
  try {
    tokens = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: st.v,
      expectedState: st.s,
      expectedNonce: st.n,
      idTokenExpected: true,
    });
  } catch (err) {
    if (isOpUnavailable(err)) throw err;
    ctx.metrics.logins.inc({ app: app.id, result: "rejected" });
    ctx.log.info({ app: app.id, err: (err as Error).message }, "callback rejected");
    throw new HttpError(400, "invalid_grant", (err as Error).message);
  }
  const claims = tokens.claims();
  if (!claims) throw new HttpError(400, "invalid_grant", "no ID token");
  // Rotate: a session cookie this browser already had is ended, a fresh id issued.
  const old = parseCookies(req.headers.cookie).get(app.cookie);
  if (old && isSessionId(old)) {
    const prev = await ctx.store.load(app.id, old);
    if (prev) await ctx.store.remove(prev);
  }
  const sid = typeof claims.sid === "string" ? claims.sid : undefined;
  const id = await ctx.store.create(app.id, claims.sub, sid, {
    tokens: tokenSetFrom(tokens),
    user: userClaims(claims),
  });
  ctx.metrics.logins.inc({ app: app.id, result: "ok" });
  ctx.log.info({ app: app.id, sub: claims.sub }, "login completed");
  // A 200 page that moves on by itself (not a 302): the browser then treats the next
  // navigation as same-site, so the SameSite=Strict session cookie is sent with it.
  const target = st.r;
  const esc = target.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  const html = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${esc}"><title>Signed in</title><a href="${esc}">Continue</a>`;
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    refresh: `0;url=${target}`,
    "content-security-policy": "default-src 'none'",
    "set-cookie": [serializeCookie(app.cookie, id, { sameSite: "Strict" }), clearLogin],
  });
  res.end(html);
}
