// The BFF, on the gateway only: its clusters (public; internal, never routed:
// the wasm filter calls it) and per app a BFF route, `<path_prefix><bff
// prefix>` (default /auth) -> the BFF's public listener, without a JWT. An app
// of a group also routes its group's `<bff prefix>/_group/<group>` there (the
// group's one redirect URI per origin): a BFF route like the app's own, where
// the filter forwards only the group's sign-in and login cookies.

import { groupBase, groupCookieName, joinPrefix } from "../../contracts/rules.js";
import type { AppSpec } from "../registry/types.js";
import { inlineCluster } from "./clusters.js";
import type { Chain, Feature, RouteDraft } from "./feature.js";
import { BFF_INTERNAL, BFF_PUBLIC } from "./names.js";
import { meshUpstreamTls } from "./tls.js";
import { prefixMatch } from "./upstreams.js";

export { joinPrefix };

/** Where an app's BFF routes are in this chain; null where there are none (sidecars). */
export function bffPrefixOf({ role, cfg }: Chain, spec: AppSpec): string | null {
  return role === "gateway" ? joinPrefix(spec.pathPrefix, cfg.bff.prefix) : null;
}

export const bff: Feature = {
  name: "bff",
  clusters: ({ role, cfg }) => ({
    clusters:
      role === "gateway"
        ? [
            { name: BFF_PUBLIC, apps: [], json: inlineCluster(BFF_PUBLIC, [cfg.bff.publicAddr]) },
            {
              name: BFF_INTERNAL,
              apps: [],
              // In a mesh the call is mTLS to a spiffe://<td>/bff/* certificate, not a shared key.
              json: inlineCluster(
                BFF_INTERNAL,
                [cfg.bff.internalAddr],
                cfg.mesh ? meshUpstreamTls(cfg.mesh, ["bff"]) : {},
              ),
            },
          ]
        : [],
  }),
  regions(chain, spec) {
    const p = bffPrefixOf(chain, spec);
    return p === null ? [] : [p];
  },
  routes({ chain }, { spec }) {
    const p = bffPrefixOf(chain, spec);
    if (p === null) return [];
    const own: RouteDraft = {
      kind: "bff",
      sortKey: p,
      name: `sg_bff_${spec.id}`,
      match: prefixMatch(p),
      route: { cluster: BFF_PUBLIC, timeout: "15s" },
    };
    if (!spec.group) return [own];
    // Every member on a host adds the same route (the first one matches): the
    // route depends on its own app only, never on which other members exist.
    const g = groupBase(chain.cfg.bff.prefix, spec.group);
    const group: RouteDraft = {
      kind: "bff",
      sortKey: g,
      name: `sg_bff_group_${spec.group}`,
      match: prefixMatch(g),
      route: { cluster: BFF_PUBLIC, timeout: "15s" },
      spec: { ...spec, session: { ...spec.session, cookieName: groupCookieName(spec.group) } },
    };
    return [own, group];
  },
};
