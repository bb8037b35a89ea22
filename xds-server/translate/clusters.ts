// Cluster building blocks the features share: endpoints inline (STATIC for
// IPs, STRICT_DNS for names) and the target of a JWKS URI.
import { isIP } from "node:net";
import type { HostPort } from "../registry/types.js";
import type { Json } from "./types.js";

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

export function jwksTarget(uri: string): HostPort & { tls: boolean } {
  const u = new URL(uri);
  const tls = u.protocol === "https:";
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port ? Number(u.port) : tls ? 443 : 80, tls };
}
