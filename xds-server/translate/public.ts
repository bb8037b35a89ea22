// Public paths (AppSpec.public_paths): routes served without a session or a
// JWT, e.g. an SPA shell and its assets that must load before login. They go
// to the app's upstreams with session-to-token disabled (nothing to swap),
// jwt_authn and ext_authz disabled, and the Cookie and Authorization headers
// removed: the session cookie still never reaches an upstream (DESIGN §7
// invariant 6), and an upstream never sees an unvalidated bearer token on a
// sessiongate route. The identity-header strip is a listener filter, so it
// still runs on these routes.
import type { AppRecord } from "../registry/types.js";
import { pathWithin } from "../registry/validate.js";
import { extAuthzPerRoute } from "./extauthz.js";
import { jwtPerRoute } from "./jwt.js";
import { appCluster, appHeader, JWT_FILTER, WASM_FILTER } from "./names.js";
import { type Json, TYPE } from "./types.js";

/** A path region some app routes on a virtual host (its prefix or its BFF routes). */
export interface Region {
  app: string;
  prefix: string;
}

export interface PublicRoute {
  /** Length used for route ordering (longest first). */
  sortKey: string;
  json: Json;
}

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
export function publicRoutes(
  rec: AppRecord,
  regions: Region[],
  opts: { ownBff: string | null; all: AppRecord[]; wasm: boolean },
): PublicRoute[] {
  const { spec } = rec;
  const out: PublicRoute[] = [];
  for (const [i, p] of (spec.publicPaths ?? []).entries()) {
    const { base, match, prefix } = publicMatch(p);
    if (opts.ownBff && (pathWithin(base, opts.ownBff) || (prefix && pathWithin(opts.ownBff, base)))) continue;
    const taken = regions.some(
      (r) => r.app !== spec.id && r.prefix.length > spec.pathPrefix.length && pathWithin(base, r.prefix),
    );
    if (taken) continue;
    out.push({
      sortKey: prefix ? (match.prefix as string) : p,
      json: {
        name: `sg_public_${spec.id}_${i}`,
        match,
        route: { cluster: appCluster(spec.id), timeout: "30s" },
        request_headers_to_add: appHeader(spec.id),
        request_headers_to_remove: ["cookie", "authorization"],
        typed_per_filter_config: {
          ...(opts.wasm ? { [WASM_FILTER]: { "@type": TYPE.filterConfig, disabled: true } } : {}),
          [JWT_FILTER]: jwtPerRoute(null),
          ...extAuthzPerRoute(opts.all, null),
        },
      },
    });
  }
  return out;
}
