// The translator's features, in order. The order is the HTTP filter chain's
// (on_demand on the gateway, so a host's route is loaded before anything reads
// it -> session-to-token -> strip client-sent identity headers -> jwt_authn ->
// ext_authz, then the router listeners.ts adds), the order of each route's
// typed_per_filter_config entries, and the order of an app's routes before
// sorting (public paths, BFF, app route: ties keep it).
import { bff } from "./bff.js";
import { extAuthz } from "./extauthz.js";
import type { Feature } from "./feature.js";
import { jwtAuthn } from "./jwt.js";
import { onDemand } from "./ondemand.js";
import { publicPaths } from "./public.js";
import { callerAuthz } from "./rbac.js";
import { stripIdentityHeaders } from "./sanitize.js";
import { upstreams } from "./upstreams.js";
import { sessionToToken } from "./wasm.js";

export const FEATURES: readonly Feature[] = [
  onDemand,
  callerAuthz,
  sessionToToken,
  stripIdentityHeaders,
  jwtAuthn,
  extAuthz,
  publicPaths,
  bff,
  upstreams,
];
