// translate(): registry snapshot + node role -> xDS resources. Pure: same
// input, same output (replicas agree on versions without talking).
import type { RegistrySnapshot } from "../registry/types.js";
import type { Chain } from "./feature.js";
import { FEATURES } from "./features.js";
import { gatewayListener, sidecarListenerFor } from "./listeners.js";
import { sidecarOutbound } from "./outbound.js";
import { gatewayRoutes, gatewayVhds, sidecarRouteConfig } from "./routes.js";
import { type NodeRole, type Resource, type ResourceSet, type TranslateConfig, TYPE } from "./types.js";

export * from "./types.js";

export const byName = (a: Resource, b: Resource) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** Every feature's clusters and endpoints, each list sorted by name. */
export function clustersOf(chain: Chain): { clusters: Resource[]; endpoints: Resource[] } {
  const sets = FEATURES.map((f) => f.clusters?.(chain) ?? { clusters: [] });
  return {
    clusters: sets.flatMap((s) => s.clusters).sort(byName),
    endpoints: sets.flatMap((s) => s.endpoints ?? []).sort(byName),
  };
}

export function translate(snap: RegistrySnapshot, cfg: TranslateConfig, role: NodeRole): ResourceSet {
  if (role.kind === "gateway") {
    const { clusters, endpoints } = clustersOf({ role: "gateway", cfg, apps: snap.apps });
    const { listener, filterConfigs } = gatewayListener(snap.apps, cfg, role.address, role.port);
    const vhds = role.vhds ? gatewayVhds(snap.apps, cfg) : undefined;
    return {
      [TYPE.cluster]: clusters,
      [TYPE.endpoint]: endpoints,
      [TYPE.ecds]: filterConfigs.sort(byName),
      [TYPE.listener]: [listener],
      [TYPE.route]: [vhds?.routes ?? gatewayRoutes(snap.apps, cfg)],
      [TYPE.vhds]: vhds?.virtualHosts.sort(byName) ?? [],
    };
  }
  const mine = snap.apps.filter((a) => a.spec.sidecar?.service === role.service);
  const { clusters, endpoints } = clustersOf({ role: "sidecar", cfg, apps: mine });
  // Two apps of one service on the same inbound port cannot both listen: first (by id) wins.
  const ports = new Set<number>();
  const served = mine.filter((a) => {
    const p = a.spec.sidecar!.inboundPort;
    if (ports.has(p)) return false;
    ports.add(p);
    return true;
  });
  const listeners = served.map((a) => sidecarListenerFor(a, cfg, role.address));
  const routes = served.map((a) => sidecarRouteConfig(a, cfg));
  if (cfg.mesh && role.outboundPort) {
    const out = sidecarOutbound(snap.apps, cfg, role.service, role.address, role.outboundPort);
    clusters.push(...out.clusters);
    listeners.push(out.listener);
    routes.push(out.routes);
  }
  return {
    [TYPE.cluster]: clusters.sort(byName),
    [TYPE.endpoint]: endpoints,
    [TYPE.ecds]: [],
    [TYPE.listener]: listeners.sort(byName),
    [TYPE.route]: routes.sort(byName),
    [TYPE.vhds]: [],
  };
}

/** Picks a node's role from its identity: metadata role=sidecar, or a cluster name some app names as its sidecar service. */
export function roleOf(
  node: { cluster: string; metadata: Record<string, unknown>; adsMode?: "sotw" | "delta" },
  snap: RegistrySnapshot,
  cfg: TranslateConfig,
  /** Whether some app names this service as its sidecar's (default: looked for in `snap`). */
  isService: (name: string) => boolean = (name) => snap.apps.some((a) => a.spec.sidecar?.service === name),
): NodeRole {
  const md = node.metadata;
  const address = typeof md.listener_address === "string" ? md.listener_address : cfg.gateway.address;
  const isSidecar = md.role === "sidecar" || (md.role !== "gateway" && isService(node.cluster));
  if (isSidecar) {
    const out = Number(md.outbound_port);
    return {
      kind: "sidecar",
      service: typeof md.service === "string" ? md.service : node.cluster,
      address,
      ...(Number.isInteger(out) && out > 0 && out < 65536 ? { outboundPort: out } : {}),
    };
  }
  const p = Number(md.listener_port);
  const port = Number.isInteger(p) && p > 0 && p < 65536 ? p : cfg.gateway.port;
  // VHDS is Delta-only in Envoy; SotW nodes get the whole RouteConfiguration.
  return { kind: "gateway", address, port, ...(node.adsMode === "delta" ? { vhds: true as const } : {}) };
}
