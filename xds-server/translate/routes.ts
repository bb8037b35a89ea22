// RouteConfigurations. Gateway: one virtual host per distinct host; sidecar:
// one virtual host per app. The routes are the features' (features.ts): per
// app its public paths, its BFF route and its app route, each completed here
// with what every feature sets on a route of its kind (route fields such as
// the wasm filter's metadata, typed_per_filter_config) and the header naming
// the app. Longest prefix first; apps on host "*" are also copied into every
// specific host so a specific host does not hide them.
import type { AppRecord, AppSpec } from "../registry/types.js";
import type { Chain, Region, RouteDraft, VirtualHostScope } from "./feature.js";
import { FEATURES } from "./features.js";
import { appHeader, GATEWAY_ROUTES, sidecarRoutes } from "./names.js";
import type { Json, Resource, TranslateConfig } from "./types.js";

interface RouteEntry {
  sortKey: string;
  json: Json;
  /** Public routes win ties: "/app" exact public beats the "/app" app route. */
  public: boolean;
}

/** The path regions the apps of one virtual host route (their prefixes, their BFF routes). */
function regionsOf(chain: Chain, apps: AppRecord[]): Region[] {
  return apps.flatMap(({ spec }) =>
    FEATURES.flatMap((f) => (f.regions?.(chain, spec) ?? []).map((prefix) => ({ app: spec.id, prefix }))),
  );
}

/** A feature's route draft completed with what every feature sets on a route of its kind. */
function routeJson(chain: Chain, spec: AppSpec, d: RouteDraft): Json {
  const fields: Json = {};
  const perFilter: Json = {};
  for (const f of FEATURES) {
    Object.assign(fields, f.routeFields?.(chain, d.kind, spec));
    Object.assign(perFilter, f.perRoute?.(chain, d.kind, spec));
  }
  return {
    name: d.name,
    match: d.match,
    route: d.route,
    ...fields,
    request_headers_to_add: appHeader(spec.id),
    ...(d.removeHeaders ? { request_headers_to_remove: d.removeHeaders } : {}),
    typed_per_filter_config: perFilter,
  };
}

function appRoutes(vh: VirtualHostScope, app: AppRecord): RouteEntry[] {
  return FEATURES.flatMap((f) => f.routes?.(vh, app) ?? []).map((d) => ({
    sortKey: d.sortKey,
    json: routeJson(vh.chain, d.spec ?? app.spec, d),
    public: d.kind === "public",
  }));
}

function sortRoutes(entries: RouteEntry[]): Json[] {
  // Stable: longer prefixes first; among equals, specific-host entries came first.
  return entries
    .map((e, i) => ({ e, i }))
    .sort(
      (a, b) =>
        b.e.sortKey.length - a.e.sortKey.length || Number(b.e.public) - Number(a.e.public) || a.i - b.i,
    )
    .map(({ e }) => e.json);
}

/** typed_per_filter_config every virtual host of this chain carries (defaults its routes override). */
function virtualHostPerFilter(chain: Chain): Json {
  const out: Json = {};
  for (const f of FEATURES) Object.assign(out, f.virtualHostPerFilter?.(chain));
  return Object.keys(out).length ? { typed_per_filter_config: out } : {};
}

/** The domains of a gateway virtual host for `host` (an exact host also matches it on any port). */
export function domains(host: string): string[] {
  if (host === "*") return ["*"];
  return host.includes(":") && !host.endsWith("]") ? [host] : [host, `${host}:*`];
}

/** One virtual host of the gateway: its host and the apps whose routes it holds. */
export interface GatewayVirtualHost {
  host: string;
  apps: string[];
  json: Json;
}

/**
 * The gateway's virtual hosts, one per distinct host. An app on "*" is copied
 * into every specific host: Envoy matches the most specific domain only, so a
 * specific host would otherwise hide it (a change to a wildcard app therefore
 * touches every virtual host; see the README, "Per-app resources").
 */
export function gatewayVirtualHosts(apps: AppRecord[], cfg: TranslateConfig): GatewayVirtualHost[] {
  return hostsOf(apps).map(([h, here]) => gatewayVirtualHost(h, here, cfg));
}

/**
 * Each distinct host (sorted) with the apps its virtual host holds: its own
 * (in registry order) and then every app on "*" not already among them.
 */
export function hostsOf(apps: AppRecord[]): [string, AppRecord[]][] {
  const byHost = new Map<string, AppRecord[]>();
  for (const a of apps)
    for (const h of a.spec.hosts) {
      const list = byHost.get(h);
      if (list) list.push(a);
      else byHost.set(h, [a]);
    }
  const wildcard = byHost.get("*") ?? [];
  return [...byHost.keys()].sort().map((h) => {
    const own = byHost.get(h)!;
    if (h === "*" || wildcard.length === 0) return [h, own];
    const mine = new Set(own);
    return [h, [...own, ...wildcard.filter((w) => !mine.has(w))]];
  });
}

/**
 * One gateway virtual host from the apps on its host (hostsOf). It depends on
 * those apps only (their routes and the path regions they own), so it can be
 * rebuilt alone when one of them changes (cache/incremental.ts).
 */
export function gatewayVirtualHost(
  host: string,
  here: AppRecord[],
  cfg: TranslateConfig,
): GatewayVirtualHost {
  const chain: Chain = { role: "gateway", cfg, apps: here };
  const vh: VirtualHostScope = { chain, regions: regionsOf(chain, here) };
  return {
    host,
    apps: here.map((a) => a.spec.id),
    json: {
      name: `sg_vh_${host.replace(/[^A-Za-z0-9.-]/g, "_")}`,
      domains: domains(host),
      routes: sortRoutes(here.flatMap((a) => appRoutes(vh, a))),
      ...virtualHostPerFilter(chain),
    },
  };
}

/** The gateway's RouteConfiguration with every virtual host inline (SotW nodes). */
export function gatewayRoutes(apps: AppRecord[], cfg: TranslateConfig): Resource {
  return {
    name: GATEWAY_ROUTES,
    apps: apps.map((a) => a.spec.id),
    json: {
      name: GATEWAY_ROUTES,
      virtual_hosts: gatewayVirtualHosts(apps, cfg).map((v) => v.json),
      validate_clusters: false,
    },
  };
}

/** VHDS resource name of a gateway virtual host (Envoy's `<route config>/<host>` convention). */
export const vhdsName = (host: string) => `${GATEWAY_ROUTES}/${host}`;

/**
 * Delta nodes: the RouteConfiguration is a skeleton that names VHDS (it
 * depends on no app, so it is never re-sent for one), and each virtual host is
 * its own resource, re-sent only when an app on its host changes.
 */
export function gatewayVhds(
  apps: AppRecord[],
  cfg: TranslateConfig,
): { routes: Resource; virtualHosts: Resource[] } {
  return {
    routes: VHDS_SKELETON,
    virtualHosts: [...gatewayVirtualHosts(apps, cfg).map(asVhdsResource), VHDS_ANCHOR],
  };
}

/** A virtual host as its own VHDS resource. Envoy keys VHDS virtual hosts by their `name` field (a removal names the resource): they must agree. */
export function asVhdsResource(v: GatewayVirtualHost): Resource {
  const name = vhdsName(v.host);
  return { name, apps: v.apps, json: { ...v.json, name } };
}

/** The Delta gateway's RouteConfiguration: it only names VHDS. */
export const VHDS_SKELETON: Resource = {
  name: GATEWAY_ROUTES,
  apps: [],
  json: {
    name: GATEWAY_ROUTES,
    vhds: { config_source: { ads: {}, resource_api_version: "V3" } },
    validate_clusters: false,
  },
};

/**
 * Always one virtual host, even with no apps: Envoy 1.40 delivers an empty
 * Delta response only to wildcard watches, and its VHDS watch subscribes by
 * namespace, so with nothing to send the gateway's first VHDS fetch would
 * wait out its 15 s initial-fetch timeout before the listener serves. The
 * anchor's domain is under the reserved `.invalid` TLD (RFC 2606) and it has
 * no routes: a request for it is a 404, like any unknown host.
 */
export const VHDS_ANCHOR_NAME = vhdsName("sessiongate.invalid");
export const VHDS_ANCHOR: Resource = {
  name: VHDS_ANCHOR_NAME,
  apps: [],
  json: { name: VHDS_ANCHOR_NAME, domains: ["sessiongate.invalid"], routes: [] },
};

export function sidecarRouteConfig(app: AppRecord, cfg: TranslateConfig): Resource {
  const name = sidecarRoutes(app.spec.id);
  const chain: Chain = { role: "sidecar", cfg, apps: [app] };
  const vh: VirtualHostScope = { chain, regions: regionsOf(chain, [app]) };
  return {
    name,
    apps: [app.spec.id],
    json: {
      name,
      virtual_hosts: [{ name: "sg_vh_inbound", domains: ["*"], routes: sortRoutes(appRoutes(vh, app)) }],
      validate_clusters: false,
    },
  };
}
