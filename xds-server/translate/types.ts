// Inputs and outputs of the translator. Resources are proto3-JSON objects
// (readable golden files); the cache layer encodes them to protobuf.
import type { HostPort } from "../registry/types.js";
import { type Json, TYPE_URLS, type TypeUrl } from "../resource/types.js";

export type { Json, TypeUrl };

/** The xDS resource types and the `@type` of every extension config the translator writes. */
export const TYPE = {
  ...TYPE_URLS,
  hcm: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  jwt: "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
  jwtPerRoute: "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig",
  extAuthz: "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
  extAuthzPerRoute: "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute",
  wasm: "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
  filterConfig: "type.googleapis.com/envoy.config.route.v3.FilterConfig",
  stringValue: "type.googleapis.com/google.protobuf.StringValue",
  httpOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  headerMutation: "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
  upstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
  rbac: "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
  downstreamTls: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  onDemand: "type.googleapis.com/envoy.extensions.filters.http.on_demand.v3.OnDemand",
} as const;

export interface Resource {
  name: string;
  json: Json;
  /** Ids of the apps this resource carries config for (NACK attribution). */
  apps: string[];
}

export type ResourceSet = Record<TypeUrl, Resource[]>;

export interface TranslateConfig {
  bff: {
    publicAddr: HostPort;
    internalAddr: HostPort;
    /** Public prefix of the BFF routes, appended to each app's path prefix (default /auth). */
    prefix: string;
    authority: string;
    internalKey: string;
    timeoutMs: number;
  };
  /** The wasm filter; undefined leaves it out of the chain (no module built). */
  wasm?: { url: string; sha256: string; codeServer: HostPort };
  cache: { enabled: boolean; slots: number; skewS: number; maxTtlS: number };
  gateway: { address: string; port: number };
  /**
   * Workload identities (mTLS ADS with a CA): nodes get certificates over SDS,
   * the gateway's call to the BFF's internal listener is mTLS and the wasm
   * filter is given no shared key.
   */
  mesh?: { trustDomain: string };
}

export type NodeRole =
  /** `vhds`: the node speaks Delta, so its virtual hosts come one by one (VHDS), not inside the RouteConfiguration. */
  | { kind: "gateway"; address: string; port: number; vhds?: true }
  | { kind: "sidecar"; service: string; address: string; outboundPort?: number };
