// logout (RP-initiated), logout/callback and OIDC back-channel logout.

import type { IncomingMessage, ServerResponse } from "node:http";
import * as oidc from "openid-client";
import { isSessionId } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { verifyLogoutToken } from "../oidc/logout-token.js";
import type { Session } from "../session/store.js";
import type { Ctx } from "./context.js";
import { checkSameOrigin } from "./csrf.js";
import { clearCookie, HttpError, parseCookies, readBody, redirect } from "./util.js";

export function logoutCallbackUri(ctx: Ctx, app: AppConfig): string {
  return app.postLogoutRedirectUri ?? `${app.publicOrigin}${ctx.config.prefix}/${app.id}/logout/callback`;
}

export async function logout(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // The session ends only on a POST the app itself made: a link, an image or a
  // same-site page must not log the user out. A GET gets a page whose button
  // makes that POST; the POST must come from the app's own origin.
  if (req.method !== "POST") {
    logoutPage(res);
    return;
  }
  checkSameOrigin(req, app);
  const cookieVal = parseCookies(req.headers.cookie).get(app.cookie);
  const s = cookieVal && isSessionId(cookieVal) ? await ctx.store.load(app.id, cookieVal) : null;
  const cookies = [clearCookie(app.cookie)];
  if (s) {
    // Delete first: the session is dead even if the OP cannot be reached below.
    await ctx.store.remove(s);
    ctx.metrics.logouts.inc({ app: app.id, kind: "rp" });
  }
  // Without a BFF session the user may still have an OP session: still go to end_session.
  const config = await ctx.clients.get(app).catch((err: Error) => {
    ctx.log.warn({ app: app.id, err: err.message }, "provider unreachable at logout; local logout only");
    return undefined;
  });
  const rt = s?.tokens.refreshToken;
  if (config && rt && config.serverMetadata().revocation_endpoint && !endSessionEndsGrant(config, app, s)) {
    try {
      await oidc.tokenRevocation(config, rt, { token_type_hint: "refresh_token" });
    } catch (err) {
      ctx.log.warn(
        { app: app.id, err: (err as Error).message },
        "refresh token revocation failed; session deleted locally",
      );
    }
  }
  const after = logoutCallbackUri(ctx, app);
  if (config?.serverMetadata().end_session_endpoint) {
    const params: Record<string, string> = { post_logout_redirect_uri: after, client_id: app.clientId };
    if (s?.tokens.idToken) params.id_token_hint = s.tokens.idToken;
    redirect(res, oidc.buildEndSessionUrl(config, params).href, cookies, 303);
    return;
  }
  redirect(res, after, cookies, 303);
}

/**
 * Whether the provider's end-session, where the browser goes next, ends the
 * refresh token with the login session: then it is not revoked first. Revoking
 * it first ends that session early, so the provider meets an unknown session
 * at end-session (Keycloak logs LOGOUT_ERROR session_expired). An offline grant
 * (offline_access) outlives the provider's logout, so it is always revoked, even
 * where that ends the login session too (Keycloak: the same log line, a price
 * worth an offline token that would otherwise live on for weeks); so is any
 * token when there is no end-session or no ID token to name the session.
 */
function endSessionEndsGrant(config: oidc.Configuration, app: AppConfig, s: Session | null): boolean {
  if (!s?.tokens.idToken || !config.serverMetadata().end_session_endpoint) return false;
  // Asked for or granted: some providers (Entra ID) leave offline_access out of the granted scope.
  const scopes = [...app.scopes, ...(s.tokens.scope ?? "").split(" ")];
  return !scopes.includes("offline_access");
}

/** The answer to a GET of logout: a button that POSTs to the same URL, never a logout. */
function logoutPage(res: ServerResponse): void {
  const html =
    '<!doctype html><meta charset="utf-8"><title>Log out</title>' +
    '<form method="post"><button type="submit">Log out</button></form>';
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    // Not in a frame (no clickjacking of the button), no script, the form posts here only.
    "content-security-policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

/**
 * The provider's way back after logout. It clears no cookie: the logout POST
 * already did, and a GET anyone can link to must not end a session, not even
 * in the browser (a top-level cross-site navigation may set SameSite cookies).
 */
export function logoutCallback(_ctx: Ctx, app: AppConfig, _req: IncomingMessage, res: ServerResponse): void {
  redirect(res, `${app.publicOrigin}/`);
}

export async function backchannelLogout(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (req.method !== "POST") throw new HttpError(405, "method_not_allowed");
  const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (ct !== "application/x-www-form-urlencoded")
    throw new HttpError(400, "invalid_request", "expected application/x-www-form-urlencoded");
  const form = new URLSearchParams(readBody(req));
  const token = form.get("logout_token");
  if (!token || form.getAll("logout_token").length !== 1)
    throw new HttpError(400, "invalid_request", "logout_token missing");
  const config = await ctx.clients.get(app);
  const claims = await verifyLogoutToken(config, token, 60);
  // A logout token is single-use (§2.6 step 10): its jti is remembered until the
  // token expires (plus the clock tolerance), so a captured one cannot be replayed.
  const keepMs = Math.max(1000, (claims.exp + 60) * 1000 - Date.now());
  if (!(await ctx.store.once(`jti:${app.id}:${claims.iss}:${claims.jti}`, keepMs))) {
    throw new HttpError(400, "invalid_request", "logout_token replayed");
  }
  const n = await ctx.store.removeBy(app.id, { sid: claims.sid, sub: claims.sub });
  ctx.metrics.logouts.inc({ app: app.id, kind: "backchannel" }, n);
  ctx.log.info({ app: app.id, sub: claims.sub, removed: n }, "back-channel logout");
  res.writeHead(200, { "cache-control": "no-store" });
  res.end();
}
