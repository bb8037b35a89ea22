// Listeners: the gateway's edge listener and sidecars' inbound listeners.
// HTTP filter order is fixed: session-to-token (wasm) -> [strip client-sent
// identity headers] -> jwt_authn -> ext_authz (per app) -> router.
import type { AppRecord } from "../registry/types.js";
import { extAuthzFilters } from "./extauthz.js";
import { jwtFilter } from "./jwt.js";
import { GATEWAY_LISTENER, GATEWAY_ROUTES, sidecarListener, sidecarRoutes } from "./names.js";
import { sanitizeFilter } from "./sanitize.js";
import { type Json, type Resource, type TranslateConfig, TYPE } from "./types.js";
import { wasmFilter } from "./wasm.js";

function hcm(statPrefix: string, routeConfig: string, filters: Json[]): Json {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": TYPE.hcm,
      stat_prefix: statPrefix,
      codec_type: "AUTO",
      rds: { config_source: { ads: {}, resource_api_version: "V3" }, route_config_name: routeConfig },
      // Prefix routing is only safe on normalised paths.
      normalize_path: true,
      merge_slashes: true,
      path_with_escaped_slashes_action: "UNESCAPE_AND_REDIRECT",
      use_remote_address: true,
      http_filters: [
        ...filters,
        { name: "envoy.filters.http.router", typed_config: { "@type": TYPE.router } },
      ],
    },
  };
}

function listener(name: string, address: string, port: number, filter: Json): Json {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{ filters: [filter] }],
  };
}

export function gatewayListener(
  apps: AppRecord[],
  cfg: TranslateConfig,
  address: string,
  port: number,
): Resource {
  const wasm = wasmFilter(apps, cfg);
  const strip = sanitizeFilter(apps);
  const filters = [
    ...(wasm ? [wasm] : []),
    ...(strip ? [strip] : []),
    ...(apps.length ? [jwtFilter(apps)] : []),
    ...extAuthzFilters(apps),
  ];
  return {
    name: GATEWAY_LISTENER,
    apps: apps.map((a) => a.spec.id),
    json: listener(GATEWAY_LISTENER, address, port, hcm("sessiongate", GATEWAY_ROUTES, filters)),
  };
}

export function sidecarListenerFor(app: AppRecord, address: string): Resource {
  const name = sidecarListener(app.spec.id);
  const strip = sanitizeFilter([app]);
  const filters = [...(strip ? [strip] : []), jwtFilter([app]), ...extAuthzFilters([app])];
  return {
    name,
    apps: [app.spec.id],
    json: listener(
      name,
      address,
      app.spec.sidecar!.inboundPort,
      hcm(`sidecar_${app.spec.id}`, sidecarRoutes(app.spec.id), filters),
    ),
  };
}
