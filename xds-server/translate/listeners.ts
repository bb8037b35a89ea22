// Listeners: the gateway's edge listener and sidecars' inbound listeners. The
// HTTP filters are the features' (features.ts, in its order), then the router.
//
// The gateway listener holds every app, so its filters' configurations (wasm
// plugin config, jwt_authn providers and requirements, ...) are served by
// ECDS: the listener only names them (`config_discovery`), stays byte-for-byte
// the same when an app changes, and Envoy swaps a filter's config for new
// streams instead of draining and rebuilding the listener. Sidecar listeners
// carry one app each, so they keep their filters inline.
import type { AppRecord } from "../registry/types.js";
import type { Chain, FilterJson, HttpFilter } from "./feature.js";
import { FEATURES } from "./features.js";
import { GATEWAY_LISTENER, GATEWAY_ROUTES, sidecarListener, sidecarRoutes } from "./names.js";
import { meshDownstreamTls } from "./tls.js";
import { type Json, type Resource, type TranslateConfig, TYPE } from "./types.js";

export function hcm(statPrefix: string, routeConfig: string, filters: Json[]): Json {
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
      // An x_user_sub twin of an identity header is x-user-sub to CGI, WSGI, Rack
      // and PHP upstreams: refuse such a request (400) rather than pass it on.
      common_http_protocol_options: { headers_with_underscores_action: "REJECT_REQUEST" },
      http_filters: [
        ...filters,
        { name: "envoy.filters.http.router", typed_config: { "@type": TYPE.router } },
      ],
    },
  };
}

export function listener(name: string, address: string, port: number, filter: Json): Json {
  return {
    name,
    address: { socket_address: { address, port_value: port } },
    filter_chains: [{ filters: [filter] }],
  };
}

/** A listener's reference to a filter config served by ECDS (resource name = filter name). */
function discovered(filter: FilterJson): Json {
  return {
    name: filter.name,
    config_discovery: {
      config_source: { ads: {}, resource_api_version: "V3" },
      type_urls: [filter.typed_config["@type"]],
    },
  };
}

/**
 * In a mesh a sidecar's inbound listener only takes mTLS from gateways and
 * sidecars of the trust domain, and tells the upstream who called in
 * x-forwarded-client-cert (URI=<caller's SPIFFE id>), set by Envoy from the
 * verified certificate; a client-sent one is dropped first (SANITIZE_SET).
 */
function meshInbound(json: Json, manager: Json, mesh: NonNullable<TranslateConfig["mesh"]>): void {
  (json.filter_chains as Json[])[0].transport_socket = meshDownstreamTls(mesh, ["gateway", "sidecar"]);
  Object.assign(manager.typed_config as Json, {
    forward_client_cert_details: "SANITIZE_SET",
    set_current_client_cert_details: { uri: true },
  });
}

const httpFilters = (chain: Chain): HttpFilter[] => FEATURES.flatMap((f) => f.httpFilters?.(chain) ?? []);

/** The gateway listener and the ECDS resources (TypedExtensionConfig) it names. */
export function gatewayListener(
  apps: AppRecord[],
  cfg: TranslateConfig,
  address: string,
  port: number,
): { listener: Resource; filterConfigs: Resource[] } {
  // The identity-header strip and jwt_authn are in the chain even before any app
  // needs them, so that adding the first app (or the first with claim headers)
  // does not change the listener. A listener change is not atomic with the
  // routes: Envoy shares the RouteConfiguration between the draining listener
  // and the warming one, so a new app's route went live, for a moment, on a
  // filter chain without jwt_authn (seen once in a real-Envoy test: a 200 with
  // no identity header).
  const filters = httpFilters({ role: "gateway", cfg, apps });
  const filterConfigs: Resource[] = filters.map((f) => ({
    name: f.json.name,
    apps: f.apps,
    json: { name: f.json.name, typed_config: f.json.typed_config },
  }));
  return {
    listener: {
      name: GATEWAY_LISTENER,
      // Only which filters exist depends on apps (NACK attribution).
      apps: filters.flatMap((f) => (f.existsFor === undefined ? [] : [f.existsFor])),
      json: listener(
        GATEWAY_LISTENER,
        address,
        port,
        hcm(
          "sessiongate",
          GATEWAY_ROUTES,
          filters.map((f) => discovered(f.json)),
        ),
      ),
    },
    filterConfigs,
  };
}

export function sidecarListenerFor(app: AppRecord, cfg: TranslateConfig, address: string): Resource {
  const name = sidecarListener(app.spec.id);
  const filters = httpFilters({ role: "sidecar", cfg, apps: [app] });
  const manager = hcm(
    `sidecar_${app.spec.id}`,
    sidecarRoutes(app.spec.id),
    filters.map((f) => f.json),
  );
  const json = listener(name, address, app.spec.sidecar!.inboundPort, manager);
  if (cfg.mesh) meshInbound(json, manager, cfg.mesh);
  return { name, apps: [app.spec.id], json };
}
