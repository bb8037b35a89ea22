// Public paths (AppSpec.public_paths): routes served without a session or a
// JWT, e.g. an SPA shell and its assets that must load before login. They go
// to the app's upstreams with session-to-token disabled (nothing to swap),
// jwt_authn and ext_authz disabled, and the Cookie and Authorization headers
// removed: the session cookie still never reaches an upstream
// (docs/architecture.md#invariant-6), and an upstream never sees an unvalidated
// bearer token on a sessiongate route. The identity-header strip is a listener filter, so it
// still runs on these routes. Each filter feature disables itself on these
// routes in its own perRoute (kind "public").
import { pathWithin } from "../registry/fields.js";
import { bffPrefixOf } from "./bff.js";
import type { Feature, RouteDraft } from "./feature.js";
import { appCluster } from "./names.js";
import type { Json } from "./types.js";

/** "/x" -> exact "/x"; "/x/*" -> everything below "/x/" (not "/x" itself, not "/xy"). */
export function publicMatch(p: string): { base: string; match: Json; prefix: boolean } {
  if (p.endsWith("/*")) {
    const base = p.slice(0, -2) || "/";
    return { base, prefix: true, match: { prefix: base === "/" ? "/" : `${base}/` } };
  }
  return { base: p, prefix: false, match: { path: p } };
}

/**
 * Public routes of one app on one virtual host. A public path inside a region
 * owned by a longer prefix (another app's prefix or BFF routes, or this app's
 * own BFF routes) is left out: longest prefix decides which app owns a request,
 * and a public route must never take a request away from its owner.
 */
export const publicPaths: Feature = {
  name: "public-paths",
  routes({ chain, regions }, { spec }) {
    const ownBff = bffPrefixOf(chain, spec);
    const out: RouteDraft[] = [];
    for (const [i, p] of (spec.publicPaths ?? []).entries()) {
      const { base, match, prefix } = publicMatch(p);
      if (ownBff && (pathWithin(base, ownBff) || (prefix && pathWithin(ownBff, base)))) continue;
      const taken = regions.some(
        (r) => r.app !== spec.id && r.prefix.length > spec.pathPrefix.length && pathWithin(base, r.prefix),
      );
      if (taken) continue;
      out.push({
        kind: "public",
        sortKey: prefix ? (match.prefix as string) : p,
        name: `sg_public_${spec.id}_${i}`,
        match,
        route: { cluster: appCluster(spec.id), timeout: "30s" },
        removeHeaders: ["cookie", "authorization"],
      });
    }
    return out;
  },
};
