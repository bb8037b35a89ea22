// On-demand VHDS: which of a snapshot's virtual hosts serves a host Envoy asks
// for. Envoy asks for `sessiongate_gateway/<Host>` (lower-cased, port
// included) when no route matches a request; the answer follows Envoy's own
// domain matching over the virtual hosts translate/routes.ts builds: an exact
// `host:port` virtual host, else the host's own (domains `host`, `host:*`),
// else — when apps are registered on "*" — a virtual host for exactly that
// host name carrying the "*" apps' routes. The "*" virtual host itself is never
// given to an on-demand node: matching every host, it would keep Envoy from
// ever asking for a registered host it has not loaded yet.
import { createHash } from "node:crypto";
import { TYPE_URLS, type VersionedResource, type VirtualHostResolver } from "../resource/types.js";
import { appCluster } from "../translate/names.js";
import { domains, VHDS_ANCHOR_NAME, vhdsName } from "../translate/routes.js";
import type { Json } from "../translate/types.js";
import { encodeResource } from "./encode.js";

/** A Host header Envoy may ask for: a DNS name or an IP literal, an optional port, ≤ 253 + 6 chars. */
const AUTHORITY = /^(?:[a-z0-9_](?:[a-z0-9_.-]{0,252})|\[[0-9a-f:.]{2,45}\])(?::[0-9]{1,5})?$/;
/** Virtual hosts made for "*" apps kept encoded per snapshot; more are encoded again when asked for. */
const SYNTHESISED_CACHE = 4096;
/** The anchor's host: no app's (its virtual host has no routes). */
const ANCHOR_HOST = VHDS_ANCHOR_NAME.slice(vhdsName("").length);

/** The host name of an authority: without its port (IPv6 literals keep their brackets). */
export function hostnameOf(authority: string): string {
  if (authority.startsWith("[")) return authority.slice(0, authority.indexOf("]") + 1);
  const i = authority.lastIndexOf(":");
  return i < 0 ? authority : authority.slice(0, i);
}

/**
 * `portHosts`: host name -> the registered hosts with a port on it (`h:8443`),
 * when the builder keeps that index (then no question costs more than its
 * own lookups); without it, it is made from `resources` on the first question.
 */
export function virtualHostResolver(
  resources: Map<string, VersionedResource>,
  wildcardJson: Json | undefined,
  clusters: Map<string, VersionedResource>,
  portHosts?: ReadonlyMap<string, readonly string[]>,
): VirtualHostResolver {
  const prefix = vhdsName("");
  const byHost = {
    get: (host: string) => (host === ANCHOR_HOST ? undefined : resources.get(prefix + host)),
  };
  let withPort: ReadonlyMap<string, readonly string[]> | undefined = portHosts;
  const portsOf = (hostname: string): VersionedResource[] => {
    if (!withPort) {
      // Indexed on the first question: most snapshots are never asked one (eager and SotW nodes).
      const index = new Map<string, string[]>();
      for (const name of resources.keys()) {
        if (name === VHDS_ANCHOR_NAME) continue;
        const host = name.slice(prefix.length);
        const h = hostnameOf(host);
        if (h !== host) index.set(h, [...(index.get(h) ?? []), host]);
      }
      withPort = index;
    }
    return (withPort.get(hostname) ?? []).flatMap((h) => resources.get(prefix + h) ?? []);
  };
  const made = new Map<string, VersionedResource>();
  const forWildcard = (hostname: string): VersionedResource | undefined => {
    const wildcard = byHost.get("*");
    if (!wildcard || !wildcardJson) return undefined;
    const hit = made.get(hostname);
    if (hit) return hit;
    const name = vhdsName(hostname);
    const json = { ...wildcardJson, name, domains: domains(hostname) };
    const version = createHash("sha256").update(`${wildcard.version}\n${name}`).digest("hex").slice(0, 16);
    const r = { name, version, any: encodeResource(TYPE_URLS.vhds, json), apps: wildcard.apps };
    if (made.size >= SYNTHESISED_CACHE) made.clear();
    made.set(hostname, r);
    return r;
  };
  const own = (hostname: string) =>
    hostname === "*" ? undefined : (byHost.get(hostname) ?? forWildcard(hostname));
  const anchor = resources.get(VHDS_ANCHOR_NAME);
  const prefixOfApps = appCluster("");
  return {
    always: anchor ? [anchor] : [],
    isRouteCluster: (name) => name.startsWith(prefixOfApps),
    clustersOf: (vhost) => vhost.apps.map(appCluster).filter((c) => clusters.has(c)),
    resolve(authority) {
      if (authority.length > 259 || !AUTHORITY.test(authority)) return {};
      const hostname = hostnameOf(authority);
      const serving = byHost.get(authority) ?? own(hostname);
      return serving ? { serving, hostname } : { hostname };
    },
    held(hostname) {
      const base = own(hostname);
      return [...(base ? [base] : []), ...portsOf(hostname)];
    },
  };
}
