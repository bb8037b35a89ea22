// ext_authz: one filter instance per app that sets a target (each has its own
// gRPC service, timeout and fail mode), disabled on every route but the app's
// app route, and a cluster (HTTP/2) per target.
import type { AppRecord } from "../registry/types.js";
import { inlineCluster } from "./clusters.js";
import type { Feature, FilterJson } from "./feature.js";
import { extAuthzCluster, extAuthzFilterName } from "./names.js";
import { type Json, TYPE } from "./types.js";

function extAuthzFilter({ spec }: AppRecord): FilterJson {
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
}

/** typed_per_filter_config entries disabling every ext_authz filter except the route's own app. */
function extAuthzPerRoute(withAuthz: AppRecord[], routeApp: string | null): Json {
  const out: Json = {};
  for (const { spec } of withAuthz) {
    out[extAuthzFilterName(spec.id)] =
      spec.id === routeApp
        ? { "@type": TYPE.extAuthzPerRoute, check_settings: { context_extensions: { app: spec.id } } }
        : { "@type": TYPE.extAuthzPerRoute, disabled: true };
  }
  return out;
}

const http2 = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": TYPE.httpOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

/** A chain's apps that have ext_authz, once per chain (every route of a gateway asks). */
const withAuthzOf = new WeakMap<AppRecord[], AppRecord[]>();
function withAuthz(apps: AppRecord[]): AppRecord[] {
  let w = withAuthzOf.get(apps);
  if (!w) {
    w = apps.filter((a) => a.spec.extAuthz);
    withAuthzOf.set(apps, w);
  }
  return w;
}

export const extAuthz: Feature = {
  name: "ext_authz",
  httpFilters: ({ apps }) =>
    withAuthz(apps).map((a) => ({ json: extAuthzFilter(a), apps: [a.spec.id], existsFor: a.spec.id })),
  clusters: ({ apps }) => ({
    clusters: withAuthz(apps).map(({ spec }) => {
      const name = extAuthzCluster(spec.id);
      return { name, apps: [spec.id], json: inlineCluster(name, [spec.extAuthz!], http2) };
    }),
  }),
  perRoute: ({ apps }, kind, spec) => extAuthzPerRoute(withAuthz(apps), kind === "app" ? spec.id : null),
};
