// Service-level authorization on a meshed sidecar's inbound listener: Envoy's
// RBAC filter admits only the workload identities the app lists in
// sidecar.allowed_callers (the peer certificate's URI SAN, already verified
// by the listener's mTLS), before jwt_authn checks the end user. Refused
// callers get 403 from RBAC. No list: any workload of the trust domain.
import type { Feature } from "./feature.js";
import { TYPE } from "./types.js";

export const RBAC_FILTER = "envoy.filters.http.rbac";

export const callerAuthz: Feature = {
  name: "rbac",
  httpFilters({ role, cfg, apps }) {
    if (role !== "sidecar" || !cfg.mesh) return [];
    const callers = [...new Set(apps.flatMap((a) => a.spec.sidecar?.allowedCallers ?? []))].sort();
    if (callers.length === 0) return [];
    return [
      {
        apps: apps.map((a) => a.spec.id),
        json: {
          name: RBAC_FILTER,
          typed_config: {
            "@type": TYPE.rbac,
            rules: {
              action: "ALLOW",
              policies: {
                "allowed-callers": {
                  permissions: [{ any: true }],
                  principals: callers.map((c) => ({ authenticated: { principal_name: { exact: c } } })),
                },
              },
            },
          },
        },
      },
    ];
  },
};
