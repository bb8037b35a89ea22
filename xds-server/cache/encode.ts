// proto3-JSON resources -> protobuf Any. The registry resolves the "@type" of
// nested typed_config / per-route configs; an unknown field or type throws,
// so a translator typo fails in unit tests instead of in Envoy.
import { create, createRegistry, fromJson, type Registry, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt";
import {
  ClusterSchema,
  file_envoy_config_cluster_v3_cluster,
} from "../../protos/gen/envoy/config/cluster/v3/cluster_pb.js";
import {
  file_envoy_config_core_v3_extension,
  TypedExtensionConfigSchema,
} from "../../protos/gen/envoy/config/core/v3/extension_pb.js";
import {
  ClusterLoadAssignmentSchema,
  file_envoy_config_endpoint_v3_endpoint,
} from "../../protos/gen/envoy/config/endpoint/v3/endpoint_pb.js";
import {
  file_envoy_config_listener_v3_listener,
  ListenerSchema,
} from "../../protos/gen/envoy/config/listener/v3/listener_pb.js";
import {
  file_envoy_config_route_v3_route_components,
  VirtualHostSchema,
} from "../../protos/gen/envoy/config/route/v3/route_components_pb.js";
import {
  file_envoy_config_route_v3_route,
  RouteConfigurationSchema,
} from "../../protos/gen/envoy/config/route/v3/route_pb.js";
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from "../../protos/gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js";
import { file_envoy_extensions_filters_http_header_mutation_v3_header_mutation } from "../../protos/gen/envoy/extensions/filters/http/header_mutation/v3/header_mutation_pb.js";
import { file_envoy_extensions_filters_http_jwt_authn_v3_config } from "../../protos/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js";
import { file_envoy_extensions_filters_http_on_demand_v3_on_demand } from "../../protos/gen/envoy/extensions/filters/http/on_demand/v3/on_demand_pb.js";
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from "../../protos/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js";
import { file_envoy_extensions_filters_http_router_v3_router } from "../../protos/gen/envoy/extensions/filters/http/router/v3/router_pb.js";
import { file_envoy_extensions_filters_http_wasm_v3_wasm } from "../../protos/gen/envoy/extensions/filters/http/wasm/v3/wasm_pb.js";
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from "../../protos/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js";
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from "../../protos/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js";
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from "../../protos/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js";
import { type Json, TYPE_URLS as TYPE, type TypeUrl } from "../resource/types.js";

export const registry: Registry = createRegistry(
  file_envoy_config_cluster_v3_cluster,
  file_envoy_config_endpoint_v3_endpoint,
  file_envoy_config_core_v3_extension,
  file_envoy_config_listener_v3_listener,
  file_envoy_config_route_v3_route,
  // FilterConfig (per-route "disabled") lives here, not in route.proto.
  file_envoy_config_route_v3_route_components,
  file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_http_jwt_authn_v3_config,
  file_envoy_extensions_filters_http_on_demand_v3_on_demand,
  file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_filters_http_header_mutation_v3_header_mutation,
  file_envoy_extensions_filters_http_router_v3_router,
  file_envoy_extensions_filters_http_wasm_v3_wasm,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_transport_sockets_tls_v3_tls,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_google_protobuf_wrappers,
);

const SCHEMAS = {
  [TYPE.cluster]: ClusterSchema,
  [TYPE.endpoint]: ClusterLoadAssignmentSchema,
  [TYPE.listener]: ListenerSchema,
  [TYPE.route]: RouteConfigurationSchema,
  [TYPE.ecds]: TypedExtensionConfigSchema,
  [TYPE.vhds]: VirtualHostSchema,
} as const;

/** Encodes one top-level resource as an Any (type_url + binary value). */
export function encodeResource(typeUrl: TypeUrl, json: Json): Any {
  if (typeUrl === TYPE.route && Array.isArray(json.virtual_hosts)) return routeConfiguration.encode(json);
  const schema = SCHEMAS[typeUrl];
  // biome-ignore lint/suspicious/noExplicitAny: one of the schemas, keyed by type URL.
  const msg = fromJson(schema as any, json as any, { registry });
  // biome-ignore lint/suspicious/noExplicitAny: see above.
  return create(AnySchema, { typeUrl, value: toBinary(schema as any, msg) });
}

/** A VirtualHost's binary encoding (VHDS resource, or one element of a RouteConfiguration). */
export function encodeVirtualHost(json: Json): Uint8Array {
  return toBinary(VirtualHostSchema, fromJson(VirtualHostSchema, json as never, { registry }));
}

/**
 * A RouteConfiguration assembled from its fields but `virtual_hosts` (`rest`)
 * and the virtual hosts' encodings: `repeated VirtualHost virtual_hosts = 2`
 * is, on the wire, one length-delimited field 2 per element, in any position.
 * So a virtual host is encoded once, not on every change of another.
 */
export function assembleRouteConfiguration(rest: Json, virtualHosts: Uint8Array[]): Any {
  const head = toBinary(
    RouteConfigurationSchema,
    fromJson(RouteConfigurationSchema, rest as never, { registry }),
  );
  const parts: Uint8Array[] = [head];
  let size = head.length;
  for (const bytes of virtualHosts) {
    const tag = lengthPrefix(2, bytes.length);
    parts.push(tag, bytes);
    size += tag.length + bytes.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return create(AnySchema, { typeUrl: TYPE.route, value: out });
}

/**
 * RouteConfigurations encoded from whole JSON (sidecars, and translate()'s
 * output in tests): each virtual host's encoding is kept from the previous
 * encode, so the cache is bounded by one configuration.
 */
class RouteConfigurationEncoder {
  private prev = new Map<string, Uint8Array>();

  encode(json: Json): Any {
    const { virtual_hosts, ...rest } = json as Json & { virtual_hosts: Json[] };
    const next = new Map<string, Uint8Array>();
    const encoded = virtual_hosts.map((vh) => {
      const text = JSON.stringify(vh);
      const bytes = next.get(text) ?? this.prev.get(text) ?? encodeVirtualHost(vh);
      next.set(text, bytes);
      return bytes;
    });
    this.prev = next;
    return assembleRouteConfiguration(rest, encoded);
  }
}
/** Tag (field number, wire type 2) and varint length of a length-delimited field. */
function lengthPrefix(field: number, len: number): Uint8Array {
  const b = [(field << 3) | 2];
  let n = len;
  while (n > 0x7f) {
    b.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  b.push(n);
  return Uint8Array.from(b);
}

const routeConfiguration = new RouteConfigurationEncoder();
