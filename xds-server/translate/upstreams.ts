// Each app's upstreams: its cluster (EDS when every upstream is an IP, so an
// upstream change is an endpoint update; STRICT_DNS otherwise) and its app
// route, `<path_prefix>` -> the cluster, where jwt_authn requires a token.
import { isIP } from "node:net";
import { inlineCluster, loadAssignment } from "./clusters.js";
import type { Feature } from "./feature.js";
import { appCluster } from "./names.js";
import type { Json, Resource } from "./types.js";

/** path_separated_prefix: "/api" matches "/api" and "/api/x", never "/apix". */
export function prefixMatch(prefix: string): Json {
  return prefix === "/" ? { prefix: "/" } : { path_separated_prefix: prefix };
}

export const upstreams: Feature = {
  name: "upstreams",
  clusters({ apps }) {
    const clusters: Resource[] = [];
    const endpoints: Resource[] = [];
    for (const { spec } of apps) {
      const name = appCluster(spec.id);
      if (spec.upstreams.every((u) => isIP(u.host))) {
        clusters.push({
          name,
          apps: [spec.id],
          json: {
            name,
            type: "EDS",
            connect_timeout: "2s",
            eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" }, service_name: name },
          },
        });
        endpoints.push({ name, apps: [spec.id], json: loadAssignment(name, spec.upstreams) });
      } else {
        clusters.push({ name, apps: [spec.id], json: inlineCluster(name, spec.upstreams) });
      }
    }
    return { clusters, endpoints };
  },
  regions: (_chain, spec) => [spec.pathPrefix],
  routes: (_vh, { spec }) => [
    {
      kind: "app",
      sortKey: spec.pathPrefix,
      name: `sg_app_${spec.id}`,
      match: prefixMatch(spec.pathPrefix),
      route: { cluster: appCluster(spec.id), timeout: "30s" },
    },
  ],
};
