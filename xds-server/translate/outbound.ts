// A meshed sidecar's way out to the other registered services: an outbound
// listener (node metadata outbound_port, on the node's listener_address) whose
// routes pick a service by Host (`<service>` or `<service>:<port>`), and one
// mTLS cluster per service presenting this node's SDS certificate and
// accepting only spiffe://<td>/sidecar/<service>. A service's sidecar is
// reached where its app's upstreams run, on its inbound_port (the sidecar
// shares its service's address).
import type { AppRecord, HostPort } from "../registry/types.js";
import { inlineCluster } from "./clusters.js";
import { hcm, listener } from "./listeners.js";
import { meshUpstreamTlsTo } from "./tls.js";
import type { Json, Resource, TranslateConfig } from "./types.js";

export const OUTBOUND = "sg_outbound";
export const meshCluster = (service: string) => `sg_mesh_${service}`;

/** service -> the sidecar endpoints of its first app (by id) and the apps behind them. */
function services(apps: AppRecord[], self: string): Map<string, { hosts: HostPort[]; apps: string[] }> {
  const out = new Map<string, { hosts: HostPort[]; apps: string[] }>();
  for (const a of [...apps].sort((x, y) => (x.spec.id < y.spec.id ? -1 : 1))) {
    const sc = a.spec.sidecar;
    if (!sc || sc.service === self || out.has(sc.service)) continue;
    const hosts = [...new Set(a.spec.upstreams.map((u) => u.host))].map((host) => ({
      host,
      port: sc.inboundPort,
    }));
    out.set(sc.service, { hosts, apps: [a.spec.id] });
  }
  return out;
}

export function sidecarOutbound(
  apps: AppRecord[],
  cfg: TranslateConfig,
  self: string,
  address: string,
  port: number,
): { clusters: Resource[]; listener: Resource; routes: Resource } {
  const mesh = cfg.mesh!;
  const svcs = services(apps, self);
  const clusters: Resource[] = [...svcs].map(([svc, t]) => ({
    name: meshCluster(svc),
    apps: t.apps,
    json: inlineCluster(
      meshCluster(svc),
      t.hosts,
      meshUpstreamTlsTo(`spiffe://${mesh.trustDomain}/sidecar/${svc}`),
    ),
  }));
  const virtualHosts: Json[] = [...svcs].map(([svc]) => ({
    name: svc,
    domains: [svc, `${svc}:*`],
    routes: [{ match: { prefix: "/" }, route: { cluster: meshCluster(svc), timeout: "15s" } }],
  }));
  const allApps = [...svcs.values()].flatMap((t) => t.apps);
  return {
    clusters,
    listener: {
      name: OUTBOUND,
      apps: allApps,
      json: listener(OUTBOUND, address, port, hcm(OUTBOUND, OUTBOUND, [])),
    },
    routes: { name: OUTBOUND, apps: allApps, json: { name: OUTBOUND, virtual_hosts: virtualHosts } },
  };
}
