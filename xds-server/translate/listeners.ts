// Listeners: the gateway's edge listener and sidecars' inbound listeners.
// HTTP filter order is fixed: session-to-token (wasm) -> [strip client-sent
// identity headers] -> jwt_authn -> ext_authz (per app) -> router.
//
// The gateway listener holds every app, so its filters' configurations (wasm
// plugin config, jwt_authn providers and requirements, ...) are served by
// ECDS: the listener only names them (`config_discovery`), stays byte-for-byte
// the same when an app changes, and Envoy swaps a filter's config for new
// streams instead of draining and rebuilding the listener. Sidecar listeners
// carry one app each, so they keep their filters inline.
import type { AppRecord } from "../registry/types.js";
import { extAuthzFilters } from "./extauthz.js";
import { jwtFilter } from "./jwt.js";
import {
  extAuthzFilterName,
  GATEWAY_LISTENER,
  GATEWAY_ROUTES,
  sidecarListener,
  sidecarRoutes,
  WASM_FILTER,
} from "./names.js";
import { emptySanitizeFilter, SANITIZE_FILTER, sanitizeFilter } from "./sanitize.js";
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

/** A listener's reference to a filter config served by ECDS (resource name = filter name). */
function discovered(filter: Json): Json {
  const typed = filter.typed_config as Json;
  return {
    name: filter.name,
    config_discovery: {
      config_source: { ads: {}, resource_api_version: "V3" },
      type_urls: [typed["@type"]],
    },
  };
}

/** The gateway listener and the ECDS resources (TypedExtensionConfig) it names. */
export function gatewayListener(
  apps: AppRecord[],
  cfg: TranslateConfig,
  address: string,
  port: number,
): { listener: Resource; filterConfigs: Resource[] } {
  const wasm = wasmFilter(cfg);
  // The identity-header strip and jwt_authn are in the chain even before any app
  // needs them, so that adding the first app (or the first with claim headers)
  // does not change the listener. A listener change is not atomic with the
  // routes: Envoy shares the RouteConfiguration between the draining listener
  // and the warming one, so a new app's route went live, for a moment, on a
  // filter chain without jwt_authn (seen once in a real-Envoy test: a 200 with
  // no identity header).
  const filters = [
    ...(wasm ? [wasm] : []),
    sanitizeFilter(apps) ?? emptySanitizeFilter(),
    jwtFilter(apps),
    ...extAuthzFilters(apps),
  ];
  const filterConfigs: Resource[] = filters.map((f) => ({
    name: f.name as string,
    apps: filterApps(f.name as string, apps),
    json: { name: f.name, typed_config: f.typed_config },
  }));
  return {
    listener: {
      name: GATEWAY_LISTENER,
      // Only which ext_authz filters exist depends on apps (NACK attribution).
      apps: apps.filter((a) => a.spec.extAuthz).map((a) => a.spec.id),
      json: listener(
        GATEWAY_LISTENER,
        address,
        port,
        hcm("sessiongate", GATEWAY_ROUTES, filters.map(discovered)),
      ),
    },
    filterConfigs,
  };
}

/** Apps whose spec shapes a filter's config (NACK attribution). */
function filterApps(name: string, apps: AppRecord[]): string[] {
  const own = apps.find((a) => a.spec.extAuthz && extAuthzFilterName(a.spec.id) === name);
  if (own) return [own.spec.id];
  // The wasm plugin configuration lists no apps (they are on their routes).
  if (name === WASM_FILTER) return [];
  if (name === SANITIZE_FILTER)
    return apps.filter((a) => a.spec.jwt.claimHeaders.length).map((a) => a.spec.id);
  return apps.map((a) => a.spec.id);
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
