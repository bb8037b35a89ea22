// RouteConfigurations. Gateway: one virtual host per distinct host; per app a
// BFF route (<prefix>/auth -> BFF public, no JWT) and an app route (-> the
// app's upstreams, JWT required, carrying the app's session-to-token settings
// as route metadata), preceded by its public paths (public.ts).
// Longest prefix first; apps on host "*" are also copied into every specific
// host so a specific host does not hide them.
import type { AppRecord } from "../registry/types.js";
import { extAuthzPerRoute } from "./extauthz.js";
import { jwtPerRoute } from "./jwt.js";
import {
  appCluster,
  appHeader,
  BFF_PUBLIC,
  GATEWAY_ROUTES,
  JWT_FILTER,
  sidecarRoutes,
  WASM_FILTER,
} from "./names.js";
import { publicRoutes, type Region } from "./public.js";
import { type Json, type Resource, type TranslateConfig, TYPE } from "./types.js";
import { routeMetadata } from "./wasm.js";

interface RouteEntry {
  prefix: string;
  json: Json;
  /** Public routes win ties: "/app" exact public beats the "/app" app route. */
  public?: boolean;
}

function match(prefix: string): Json {
  // path_separated_prefix: "/api" matches "/api" and "/api/x", never "/apix".
  return prefix === "/" ? { prefix: "/" } : { path_separated_prefix: prefix };
}

export function joinPrefix(appPrefix: string, bffPrefix: string): string {
  return (appPrefix === "/" ? "" : appPrefix) + bffPrefix;
}

/** The path regions the apps of one virtual host route: their prefixes and BFF routes. */
function regionsOf(apps: AppRecord[], cfg: TranslateConfig | null): Region[] {
  return apps.flatMap(({ spec }) => [
    { app: spec.id, prefix: spec.pathPrefix },
    ...(cfg ? [{ app: spec.id, prefix: joinPrefix(spec.pathPrefix, cfg.bff.prefix) }] : []),
  ]);
}

function appRoutes(
  rec: AppRecord,
  all: AppRecord[],
  cfg: TranslateConfig | null,
  regions: Region[],
): RouteEntry[] {
  const { spec } = rec;
  const out: RouteEntry[] = [];
  const ownBff = cfg ? joinPrefix(spec.pathPrefix, cfg.bff.prefix) : null;
  for (const r of publicRoutes(rec, regions, { ownBff, all, wasm: cfg !== null }))
    out.push({ prefix: r.sortKey, json: r.json, public: true });
  if (cfg) {
    const p = joinPrefix(spec.pathPrefix, cfg.bff.prefix);
    out.push({
      prefix: p,
      json: {
        name: `sg_bff_${spec.id}`,
        match: match(p),
        route: { cluster: BFF_PUBLIC, timeout: "15s" },
        request_headers_to_add: appHeader(spec.id),
        typed_per_filter_config: {
          // The BFF's own routes read the session cookie themselves (session,
          // logout, token): session-to-token must not swap and strip it here.
          [WASM_FILTER]: { "@type": TYPE.filterConfig, disabled: true },
          [JWT_FILTER]: jwtPerRoute(null),
          ...extAuthzPerRoute(all, null),
        },
      },
    });
  }
  out.push({
    prefix: spec.pathPrefix,
    json: {
      name: `sg_app_${spec.id}`,
      match: match(spec.pathPrefix),
      route: { cluster: appCluster(spec.id), timeout: "30s" },
      // The wasm filter learns the app from its route (wasm.ts routeMetadata).
      ...(cfg?.wasm ? { metadata: routeMetadata(spec) } : {}),
      request_headers_to_add: appHeader(spec.id),
      typed_per_filter_config: { [JWT_FILTER]: jwtPerRoute(spec), ...extAuthzPerRoute(all, spec.id) },
    },
  });
  return out;
}

function sortRoutes(entries: RouteEntry[]): Json[] {
  // Stable: longer prefixes first; among equals, specific-host entries came first.
  return entries
    .map((e, i) => ({ e, i }))
    .sort(
      (a, b) =>
        b.e.prefix.length - a.e.prefix.length || Number(!!b.e.public) - Number(!!a.e.public) || a.i - b.i,
    )
    .map(({ e }) => e.json);
}

function domains(host: string): string[] {
  if (host === "*") return ["*"];
  return host.includes(":") && !host.endsWith("]") ? [host] : [host, `${host}:*`];
}

export function gatewayRoutes(apps: AppRecord[], cfg: TranslateConfig): Resource {
  const byHost = new Map<string, AppRecord[]>();
  for (const a of apps) for (const h of a.spec.hosts) byHost.set(h, [...(byHost.get(h) ?? []), a]);
  const wildcard = byHost.get("*") ?? [];
  // Per-route ext_authz entries only concern apps that have ext_authz.
  const withAuthz = apps.filter((a) => a.spec.extAuthz);
  const hosts = [...byHost.keys()].sort();
  const virtualHosts = hosts.map((h) => {
    const own = byHost.get(h) ?? [];
    const extra = h === "*" ? [] : wildcard.filter((w) => !own.includes(w));
    const here = [...own, ...extra];
    const regions = regionsOf(here, cfg);
    const entries = here.flatMap((a) => appRoutes(a, withAuthz, cfg, regions));
    return {
      name: `sg_vh_${h.replace(/[^A-Za-z0-9.-]/g, "_")}`,
      domains: domains(h),
      routes: sortRoutes(entries),
    };
  });
  return {
    name: GATEWAY_ROUTES,
    apps: apps.map((a) => a.spec.id),
    json: { name: GATEWAY_ROUTES, virtual_hosts: virtualHosts, validate_clusters: false },
  };
}

export function sidecarRouteConfig(app: AppRecord): Resource {
  const name = sidecarRoutes(app.spec.id);
  return {
    name,
    apps: [app.spec.id],
    json: {
      name,
      virtual_hosts: [
        { name: "sg_vh_inbound", domains: ["*"], routes: sortRoutes(appRoutes(app, [app], null, [])) },
      ],
      validate_clusters: false,
    },
  };
}
