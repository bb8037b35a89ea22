// The gateway's translation, golden per translator feature: each feature's
// file (golden/gateway/<feature>.json) holds the resources it produced (its
// clusters, endpoints and ECDS filter configs) and its routes, whole, per
// virtual host; golden/gateway/listener-and-routes.json holds the listener and
// the route configuration with each virtual host's routes by name, in order.
// Put together they are the whole translation, byte for byte: nothing is
// left out and nothing is in two files. Which feature produced what is asked
// of the features themselves (their hooks), not written down here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Chain } from "../../xds-server/translate/feature.js";
import { FEATURES } from "../../xds-server/translate/features.js";
import { cfg, GOLDEN, golden, render, snap } from "./translate-fixture.js";

type Entry = { name: string; apps: string[]; resource: unknown };
type Route = { name: string };
type VirtualHost = { name: string; domains: string[]; routes: Route[] };
type RouteConfig = { name: string; virtual_hosts: VirtualHost[]; validate_clusters: boolean };
type Rendered = Record<string, Entry[]>;
/** Per feature: its resources by type, and its routes by virtual host. */
type FeaturePart = Record<string, Entry[]> & { routes?: Record<string, Route[]> };

const RESOURCE_TYPES = ["Cluster", "ClusterLoadAssignment", "TypedExtensionConfig"] as const;
const CORE = "listener-and-routes";

type Kind = (typeof RESOURCE_TYPES)[number] | "routes";

/** The names each feature produces for the fixture, by kind, asked of its hooks. */
function produced(): Map<string, Record<Kind, Set<string>>> {
  const chain: Chain = { role: "gateway", cfg, apps: snap.apps };
  const out = new Map<string, Record<Kind, Set<string>>>();
  for (const f of FEATURES) {
    const set = f.clusters?.(chain);
    out.set(f.name, {
      Cluster: new Set(set?.clusters.map((r) => r.name)),
      ClusterLoadAssignment: new Set(set?.endpoints?.map((r) => r.name)),
      TypedExtensionConfig: new Set(f.httpFilters?.(chain).map((h) => h.json.name)),
      // No region taken: every route the feature could add for each app.
      routes: new Set(
        snap.apps.flatMap((a) => f.routes?.({ chain, regions: [] }, a) ?? []).map((d) => d.name),
      ),
    });
  }
  return out;
}

/** The translation split per feature; throws on a piece with no owner or two. */
function split(full: Rendered): { core: unknown; parts: Map<string, FeaturePart> } {
  const owners = produced();
  const ownerOf = (kind: Kind, name: string) => {
    const found = [...owners].filter(([, p]) => p[kind].has(name)).map(([f]) => f);
    if (found.length !== 1) throw new Error(`${kind} ${name}: produced by [${found.join(", ")}]`);
    return found[0];
  };
  const parts = new Map<string, FeaturePart>(FEATURES.map((f) => [f.name, {}]));
  for (const t of RESOURCE_TYPES)
    for (const e of full[t]) {
      const part = parts.get(ownerOf(t, e.name))!;
      part[t] = [...(part[t] ?? []), e];
    }
  const [routeConfig] = full.RouteConfiguration;
  const rc = routeConfig.resource as RouteConfig;
  for (const vh of rc.virtual_hosts)
    for (const r of vh.routes) {
      const part = parts.get(ownerOf("routes", r.name))!;
      part.routes ??= {};
      part.routes[vh.name] = [...(part.routes[vh.name] ?? []), r];
    }
  const core = {
    Listener: full.Listener,
    RouteConfiguration: [
      {
        ...routeConfig,
        resource: {
          ...rc,
          virtual_hosts: rc.virtual_hosts.map((vh) => ({ ...vh, routes: vh.routes.map((r) => r.name) })),
        },
      },
    ],
  };
  return { core, parts };
}

/** The golden files put back together, in the translation's own order. */
function merged(): Rendered {
  const read = (name: string) => JSON.parse(readFileSync(join(GOLDEN, "gateway", `${name}.json`), "utf8"));
  const parts: FeaturePart[] = FEATURES.map((f) => read(f.name));
  const core = read(CORE);
  const byName = (a: Entry, b: Entry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const out: Rendered = {};
  for (const t of RESOURCE_TYPES) out[t] = parts.flatMap((p) => p[t] ?? []).sort(byName);
  out.Listener = core.Listener;
  const [rc] = core.RouteConfiguration;
  const route = (vh: string, name: string) =>
    parts.flatMap((p) => p.routes?.[vh] ?? []).find((r) => r.name === name);
  out.RouteConfiguration = [
    {
      ...rc,
      resource: {
        ...rc.resource,
        virtual_hosts: rc.resource.virtual_hosts.map((vh: { name: string; routes: string[] }) => ({
          ...vh,
          routes: vh.routes.map((n) => route(vh.name, n)),
        })),
      },
    },
  ];
  // This is the SotW rendering (virtual hosts inline); Delta's VHDS split is tested in translate.test.ts.
  out.VirtualHost = [];
  return out;
}

const gateway = () => render({ kind: "gateway", address: "127.0.0.1", port: 10000 });

describe("translate, gateway: golden per feature", () => {
  const { core, parts } = split(gateway());
  it.each(FEATURES.map((f) => f.name))("%s", (name) => golden(`gateway/${name}`, parts.get(name)));
  it("the listener and the route configuration's virtual hosts", () => golden(`gateway/${CORE}`, core));
  it("the golden files put together are the whole translation, byte for byte", () => {
    expect(JSON.stringify(merged(), null, 2)).toBe(JSON.stringify(gateway(), null, 2));
  });
});
