// Clusters and endpoints: the BFF (public, internal), the wasm code server,
// each app's upstreams (EDS when every upstream is an IP, DNS otherwise), each
// JWKS host and each ext_authz service.
import { isIP } from "node:net";
import type { AppRecord, HostPort } from "../registry/types.js";
import { appCluster, BFF_INTERNAL, BFF_PUBLIC, extAuthzCluster, jwksCluster, WASM_CODE } from "./names.js";
import { type Json, type Resource, type TranslateConfig, TYPE } from "./types.js";

const lbEndpoints = (hosts: HostPort[]) =>
  hosts.map((h) => ({ endpoint: { address: { socket_address: { address: h.host, port_value: h.port } } } }));

export function loadAssignment(name: string, hosts: HostPort[]): Json {
  return { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints(hosts) }] };
}

/** A cluster with its endpoints inline: STATIC for IPs, STRICT_DNS for names. */
export function inlineCluster(name: string, hosts: HostPort[], extra: Json = {}): Json {
  const dns = hosts.some((h) => !isIP(h.host));
  return {
    name,
    type: dns ? "STRICT_DNS" : "STATIC",
    ...(dns ? { dns_lookup_family: "V4_PREFERRED" } : {}),
    connect_timeout: "2s",
    load_assignment: loadAssignment(name, hosts),
    ...extra,
  };
}

const http2 = {
  typed_extension_protocol_options: {
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
      "@type": TYPE.httpOptions,
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};

export function jwksTarget(uri: string): HostPort & { tls: boolean } {
  const u = new URL(uri);
  const tls = u.protocol === "https:";
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port ? Number(u.port) : tls ? 443 : 80, tls };
}

function jwksClusterJson(uri: string): Resource["json"] & { name: string } {
  const t = jwksTarget(uri);
  const name = jwksCluster(t.host, t.port);
  const tls = t.tls
    ? {
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: { "@type": TYPE.upstreamTls, sni: t.host },
        },
      }
    : {};
  return { ...inlineCluster(name, [t]), ...tls } as Json & { name: string };
}

export function appClusters(apps: AppRecord[]): { clusters: Resource[]; endpoints: Resource[] } {
  const clusters: Resource[] = [];
  const endpoints: Resource[] = [];
  const jwks = new Map<string, Resource>();
  for (const { spec } of apps) {
    const name = appCluster(spec.id);
    if (spec.upstreams.every((u) => isIP(u.host))) {
      clusters.push({
        name,
        apps: [spec.id],
        json: {
          name,
          type: "EDS",
          connect_timeout: "2s",
          eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: name },
        },
      });
      endpoints.push({ name, apps: [spec.id], json: loadAssignment(name, spec.upstreams) });
    } else {
      clusters.push({ name, apps: [spec.id], json: inlineCluster(name, spec.upstreams) });
    }
    const j = jwksClusterJson(spec.jwt.remoteJwksUri);
    const prev = jwks.get(j.name);
    if (prev) prev.apps.push(spec.id);
    else jwks.set(j.name, { name: j.name, apps: [spec.id], json: j });
    if (spec.extAuthz) {
      const n = extAuthzCluster(spec.id);
      clusters.push({ name: n, apps: [spec.id], json: inlineCluster(n, [spec.extAuthz], http2) });
    }
  }
  return { clusters: [...clusters, ...jwks.values()], endpoints };
}

/** Clusters only gateways need. The BFF internal one is never routed: the wasm filter calls it. */
export function gatewayClusters(cfg: TranslateConfig): Resource[] {
  const out: Resource[] = [
    { name: BFF_PUBLIC, apps: [], json: inlineCluster(BFF_PUBLIC, [cfg.bff.publicAddr]) },
    { name: BFF_INTERNAL, apps: [], json: inlineCluster(BFF_INTERNAL, [cfg.bff.internalAddr]) },
  ];
  if (cfg.wasm)
    out.push({ name: WASM_CODE, apps: [], json: inlineCluster(WASM_CODE, [cfg.wasm.codeServer]) });
  return out;
}
