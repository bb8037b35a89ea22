// OIDC Back-Channel Logout for an app group: its apps share one provider
// client, so the provider sends one logout token, to the group's
// `<prefix>/_group/<group>/backchannel-logout`, and every session of that
// provider session (`sid`, else `sub`) ends in every app of the group.
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import type { OidcContext } from "./context.js";
import { verifyLogoutToken } from "./logout-token.js";

export async function groupBackchannelLogout(
  oc: Pick<OidcContext, "clients" | "store" | "metrics" | "log">,
  members: AppConfig[],
  group: string,
  logoutToken: string,
): Promise<number> {
  const ref = members[0];
  if (!ref) throw new SessiongateError("unknown_group", `no app in group ${group}`);
  const claims = await verifyLogoutToken(await oc.clients.get(ref), logoutToken, 60);
  const keepMs = Math.max(1000, (claims.exp + 60) * 1000 - Date.now());
  if (!(await oc.store.once(`jti:_group:${group}:${claims.iss}:${claims.jti}`, keepMs)))
    throw new SessiongateError("logout_token_replayed", "logout_token replayed");
  let n = 0;
  // Only members with the group's client: the token was issued to that client.
  for (const app of members.filter((a) => a.issuer === ref.issuer && a.clientId === ref.clientId)) {
    const removed = await oc.store.removeBy(app.id, { sid: claims.sid, sub: claims.sub });
    oc.metrics.logouts.inc({ app: app.id, kind: "backchannel" }, removed);
    n += removed;
  }
  oc.log.info({ group, sub: claims.sub, removed: n }, "back-channel logout of a group");
  return n;
}
