// On-demand virtual hosts (Delta gateways): Envoy's on_demand filter, first in
// the gateway's chain. When no route matches a request's host, it asks the
// control plane for `sessiongate_gateway/<host>` over VHDS, holds the request
// until the answer arrives and then restarts it from the top of the chain, so
// the session-to-token filter (route metadata) and jwt_authn (per-route
// requirement) run on the route of the host just loaded — never on a request
// without one. On a RouteConfiguration without VHDS (SotW gateways) it does
// nothing: the route is already there or the host is unknown.
import type { Feature } from "./feature.js";
import { TYPE } from "./types.js";

export const ON_DEMAND_FILTER = "envoy.filters.http.on_demand";

export const onDemand: Feature = {
  name: "on-demand",
  httpFilters({ role }) {
    if (role !== "gateway") return [];
    return [{ json: { name: ON_DEMAND_FILTER, typed_config: { "@type": TYPE.onDemand } }, apps: [] }];
  },
};
