// Logout: RP-initiated (the app asks; the session is deleted, the refresh token
// revoked where the provider's logout would not end it, and the browser sent to
// the provider's end-session endpoint) and OIDC Back-Channel Logout (the
// provider asks, with a signed logout token).
import * as oidc from "openid-client";
import { groupBase } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import type { Session } from "../session/store.js";
import type { OidcContext } from "./context.js";
import { endSignIn } from "./group.js";
import { verifyLogoutToken } from "./logout-token.js";

/** Where the provider sends the browser after its logout. */
export function logoutCallbackUri(oc: Pick<OidcContext, "prefix">, app: AppConfig): string {
  if (app.postLogoutRedirectUri) return app.postLogoutRedirectUri;
  // A group has one per origin too; `state` names the app to return to.
  if (app.group) return `${app.publicOrigin}${groupBase(oc.prefix, app.group)}/logout/callback`;
  return `${app.publicOrigin}${oc.prefix}/${app.id}/logout/callback`;
}

/**
 * Ends the session `sessionId` names (a well-formed id, or null) and returns
 * where the browser goes next. Without a BFF session the user may still have a
 * provider session, so the answer still leads to end-session.
 */
export async function logout(
  oc: Pick<OidcContext, "clients" | "store" | "groups" | "prefix" | "metrics" | "log">,
  app: AppConfig,
  sessionId: string | null,
): Promise<{ redirectTo: string }> {
  const s = sessionId ? await oc.store.load(app.id, sessionId) : null;
  const ended: Session[] = [];
  if (s) {
    // Delete first: the session is dead even if the OP cannot be reached below.
    await oc.store.remove(s);
    ended.push(s);
    // An app of a group signs out of the group: every session of the browser's group sign-in ends.
    const signIn = app.group ? await oc.groups.of(s.idHash) : null;
    if (signIn) ended.push(...(await endSignIn(oc, signIn)));
    oc.metrics.logouts.inc({ app: app.id, kind: "rp" });
  }
  const config = await oc.clients.get(app).catch((err: Error) => {
    oc.log.warn({ app: app.id, err: err.message }, "provider unreachable at logout; local logout only");
    return undefined;
  });
  for (const e of ended) {
    const rt = e.tokens.refreshToken;
    if (!config || !rt || !config.serverMetadata().revocation_endpoint || endSessionEndsGrant(config, app, e))
      continue;
    try {
      await oidc.tokenRevocation(config, rt, { token_type_hint: "refresh_token" });
    } catch (err) {
      oc.log.warn(
        { app: e.app, err: (err as Error).message },
        "refresh token revocation failed; session deleted locally",
      );
    }
  }
  const after = logoutCallbackUri(oc, app);
  if (config?.serverMetadata().end_session_endpoint) {
    // Once at the provider, for the whole group: its apps share the client.
    const params: Record<string, string> = { post_logout_redirect_uri: after, client_id: app.clientId };
    if (s?.tokens.idToken) params.id_token_hint = s.tokens.idToken;
    if (app.group && !app.postLogoutRedirectUri) params.state = app.id;
    return { redirectTo: oidc.buildEndSessionUrl(config, params).href };
  }
  return { redirectTo: app.group && !app.postLogoutRedirectUri ? `${after}?state=${app.id}` : after };
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

/**
 * Verifies a logout token (signature, claims, freshness) and deletes the
 * sessions it names; returns how many. logout_token_invalid / _replayed when
 * refused.
 */
export async function backchannelLogout(
  oc: Pick<OidcContext, "clients" | "store" | "metrics" | "log">,
  app: AppConfig,
  logoutToken: string,
): Promise<number> {
  const config = await oc.clients.get(app);
  const claims = await verifyLogoutToken(config, logoutToken, 60);
  // A logout token is single-use (§2.6 step 10): its jti is remembered until the
  // token expires (plus the clock tolerance), so a captured one cannot be replayed.
  const keepMs = Math.max(1000, (claims.exp + 60) * 1000 - Date.now());
  if (!(await oc.store.once(`jti:${app.id}:${claims.iss}:${claims.jti}`, keepMs))) {
    throw new SessiongateError("logout_token_replayed", "logout_token replayed");
  }
  const n = await oc.store.removeBy(app.id, { sid: claims.sid, sub: claims.sub });
  oc.metrics.logouts.inc({ app: app.id, kind: "backchannel" }, n);
  oc.log.info({ app: app.id, sub: claims.sub, removed: n }, "back-channel logout");
  return n;
}
