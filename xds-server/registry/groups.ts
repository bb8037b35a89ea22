// App groups share one provider client (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps):
// every member names the same oidc.issuer and oidc.client_id. Checked at the
// API against the apps registered now (the store's transaction does not compare
// apps, so two concurrent writes could still disagree: the BFF refuses to sign
// in a member whose client is not the group's first app's).
import { bad } from "./fields.js";
import type { AppRecord, AppSpec } from "./types.js";

/** INVALID_ARGUMENT naming oidc.client_id when `spec` would give its group a second client. */
export function checkGroupClient(spec: AppSpec, registered: AppRecord[]): void {
  if (!spec.group) return;
  const other = registered.find((a) => a.spec.group === spec.group && a.spec.id !== spec.id);
  if (!other) return;
  const o = other.spec.oidc;
  if (o.issuer !== spec.oidc.issuer || o.clientId !== spec.oidc.clientId)
    bad(
      "oidc.client_id",
      `group ${spec.group} shares one provider client: oidc.issuer and oidc.client_id must equal app ${other.spec.id}'s (${o.issuer}, ${o.clientId})`,
    );
}
