// ext_authz: each app with a target has its own gRPC service (an HTTP/2
// cluster per target), timeout and fail mode, and the PDP is told the app in
// `context_extensions.app`.
//
// Gateway: two fixed filters are always in the chain, one failing closed and
// one failing open (fail mode is a filter setting, not a per-route one), and
// an app's app route picks its service per route: ExtAuthzPerRoute
// `check_settings` with `grpc_service` (the per-route service override of
// Envoy 1.40) and its `context_extensions`. Every virtual host disables both
// filters; an app route of an app with a target re-enables one of them for
// itself only (the most specific per-filter config wins). So registering or
// removing an app with ext_authz changes neither the listener nor the filter
// configs nor any other app's route: only its own cluster and route. The
// filters' default service is a cluster with no endpoints: a route that
// somehow carried no per-route setting fails closed (403), never unchecked.
//
// Sidecar listeners carry one app each: there the app's own filter is inline.
import type { AppRecord } from "../registry/types.js";
import { inlineCluster } from "./clusters.js";
import type { Feature, FilterJson } from "./feature.js";
import {
  EXT_AUTHZ_CLOSED,
  EXT_AUTHZ_NONE,
  EXT_AUTHZ_OPEN,
  extAuthzCluster,
  extAuthzFilterName,
} from "./names.js";
import { type Json, TYPE } from "./types.js";

type ExtAuthzSpec = NonNullable<AppRecord["spec"]["extAuthz"]>;

const grpcService = (id: string, e: ExtAuthzSpec) => ({
  envoy_grpc: { cluster_name: extAuthzCluster(id) },
  timeout: `${e.timeoutMs / 1000}s`,
});

function filter(name: string, grpc: Json, failOpen: boolean): FilterJson {
  return {
    name,
    typed_config: {
      "@type": TYPE.extAuthz,
      transport_api_version: "V3",
      grpc_service: grpc,
      failure_mode_allow: failOpen,
    },
  };
}

/** The gateway's two fixed filters (they name no app: the listener and ECDS never change for one). */
const gatewayFilters = (): FilterJson[] =>
  [EXT_AUTHZ_CLOSED, EXT_AUTHZ_OPEN].map((name) =>
    filter(name, { envoy_grpc: { cluster_name: EXT_AUTHZ_NONE }, timeout: "1s" }, name === EXT_AUTHZ_OPEN),
  );

const off = { "@type": TYPE.extAuthzPerRoute, disabled: true };

/** The gateway filter an app's fail mode selects. */
const gatewayFilterOf = (e: ExtAuthzSpec) => (e.failMode === "open" ? EXT_AUTHZ_OPEN : EXT_AUTHZ_CLOSED);

const http2 = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": TYPE.httpOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

export const extAuthz: Feature = {
  name: "ext_authz",
  httpFilters: ({ role, apps }) =>
    role === "gateway"
      ? gatewayFilters().map((json) => ({ json, apps: [] }))
      : apps.flatMap(({ spec }) =>
          spec.extAuthz
            ? [
                {
                  json: filter(
                    extAuthzFilterName(spec.id),
                    grpcService(spec.id, spec.extAuthz),
                    spec.extAuthz.failMode === "open",
                  ),
                  apps: [spec.id],
                  existsFor: spec.id,
                },
              ]
            : [],
        ),
  clusters: ({ role, apps }) => ({
    clusters: [
      ...(role === "gateway"
        ? [
            {
              name: EXT_AUTHZ_NONE,
              apps: [],
              json: { name: EXT_AUTHZ_NONE, type: "STATIC", connect_timeout: "1s" },
            },
          ]
        : []),
      ...apps.flatMap(({ spec }) => {
        if (!spec.extAuthz) return [];
        const name = extAuthzCluster(spec.id);
        return [{ name, apps: [spec.id], json: inlineCluster(name, [spec.extAuthz], http2) }];
      }),
    ],
  }),
  virtualHostPerFilter: ({ role }) =>
    role === "gateway" ? { [EXT_AUTHZ_CLOSED]: off, [EXT_AUTHZ_OPEN]: off } : undefined,
  perRoute({ role }, kind, spec) {
    const e = spec.extAuthz;
    if (role === "gateway") {
      if (kind !== "app" || !e) return undefined;
      return {
        [gatewayFilterOf(e)]: {
          "@type": TYPE.extAuthzPerRoute,
          check_settings: { context_extensions: { app: spec.id }, grpc_service: grpcService(spec.id, e) },
        },
      };
    }
    if (!e) return undefined;
    return {
      [extAuthzFilterName(spec.id)]:
        kind === "app"
          ? { "@type": TYPE.extAuthzPerRoute, check_settings: { context_extensions: { app: spec.id } } }
          : off,
    };
  },
};
