// jwt_authn: one provider per app (remote JWKS fetched asynchronously and
// cached), selected per route through requirement_map + PerRouteConfig.
import type { AppRecord } from "../registry/types.js";
import { jwksTarget } from "./clusters.js";
import { JWT_FILTER, jwksCluster, providerName } from "./names.js";
import { type Json, TYPE } from "./types.js";

export function jwtFilter(apps: AppRecord[]): Json {
  const providers: Json = {};
  const requirementMap: Json = {};
  for (const { spec } of apps) {
    const t = jwksTarget(spec.jwt.remoteJwksUri);
    const name = providerName(spec.id);
    providers[name] = {
      issuer: spec.jwt.issuer,
      audiences: spec.jwt.audiences,
      remote_jwks: {
        http_uri: { uri: spec.jwt.remoteJwksUri, cluster: jwksCluster(t.host, t.port), timeout: "5s" },
        cache_duration: `${spec.jwt.jwksCacheDurationS}s`,
        // Fetch at listener start so the first request does not wait; the
        // listener waits for that first fetch (fast_listener false).
        async_fetch: { fast_listener: false },
        retry_policy: { num_retries: 3 },
      },
      // Upstream APIs receive the validated token.
      forward: true,
      ...(spec.jwt.claimHeaders.length
        ? {
            claim_to_headers: spec.jwt.claimHeaders.map((c) => ({
              header_name: c.header,
              claim_name: c.claim,
            })),
          }
        : {}),
    };
    requirementMap[name] = { provider_name: name };
  }
  return {
    name: JWT_FILTER,
    typed_config: { "@type": TYPE.jwt, providers, requirement_map: requirementMap },
  };
}

/** Per-route: require the app's provider, or disable jwt_authn (BFF routes). */
export function jwtPerRoute(appId: string | null): Json {
  return appId === null
    ? { "@type": TYPE.jwtPerRoute, disabled: true }
    : { "@type": TYPE.jwtPerRoute, requirement_name: providerName(appId) };
}
