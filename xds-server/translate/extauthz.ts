// ext_authz: one filter instance per app that sets a target (each has its own
// gRPC service, timeout and fail mode), disabled on every route but the app's.
import type { AppRecord } from "../registry/types.js";
import { extAuthzCluster, extAuthzFilterName } from "./names.js";
import { type Json, TYPE } from "./types.js";

export function extAuthzFilters(apps: AppRecord[]): Json[] {
  return apps
    .filter((a) => a.spec.extAuthz)
    .map(({ spec }) => {
      const e = spec.extAuthz!;
      return {
        name: extAuthzFilterName(spec.id),
        typed_config: {
          "@type": TYPE.extAuthz,
          transport_api_version: "V3",
          grpc_service: {
            envoy_grpc: { cluster_name: extAuthzCluster(spec.id) },
            timeout: `${e.timeoutMs / 1000}s`,
          },
          failure_mode_allow: e.failMode === "open",
        },
      };
    });
}

/** typed_per_filter_config entries disabling every ext_authz filter except the route's own app. */
export function extAuthzPerRoute(apps: AppRecord[], routeApp: string | null): Json {
  const out: Json = {};
  for (const { spec } of apps) {
    if (!spec.extAuthz) continue;
    if (spec.id === routeApp) {
      out[extAuthzFilterName(spec.id)] = {
        "@type": TYPE.extAuthzPerRoute,
        check_settings: { context_extensions: { app: spec.id } },
      };
    } else {
      out[extAuthzFilterName(spec.id)] = { "@type": TYPE.extAuthzPerRoute, disabled: true };
    }
  }
  return out;
}
