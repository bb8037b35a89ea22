// jwt_authn: providers (remote JWKS fetched asynchronously and cached) and
// requirements, selected per route through requirement_map + PerRouteConfig.
// Both are named by their content, not by app: apps that trust the same
// issuer and JWKS share one provider (one JWKS cache, one fetch), and apps
// that also want the same audiences share one requirement. So registering one
// more app of a known IdP and audience leaves the filter config unchanged, and
// a new one adds a single small entry.
import { createHash } from "node:crypto";
//
// Also the clusters of the JWKS hosts, one per host and port, shared by the
// apps that name it.
import type { AppRecord, AppSpec } from "../registry/types.js";
import { inlineCluster, jwksTarget } from "./clusters.js";
import type { Feature, FilterJson } from "./feature.js";
import { JWT_FILTER, jwksCluster } from "./names.js";
import { type Json, type Resource, TYPE } from "./types.js";

// jwt_authn's cache of verified tokens, per provider and worker. A hit skips only
// the signature check (issuer, exp/nbf and audience are checked on every
// request), which halves jwt_authn's CPU per request: every session's token is
// the same string on each of its requests until the BFF refreshes it.
const JWT_CACHE_SIZE = 1000;

const digest = (v: unknown) => createHash("sha256").update(JSON.stringify(v)).digest("hex").slice(0, 12);

function provider(spec: AppSpec): Json {
  const t = jwksTarget(spec.jwt.remoteJwksUri);
  return {
    issuer: spec.jwt.issuer,
    remote_jwks: {
      http_uri: { uri: spec.jwt.remoteJwksUri, cluster: jwksCluster(t.host, t.port), timeout: "5s" },
      cache_duration: `${spec.jwt.jwksCacheDurationS}s`,
      // Fetch when the config loads so the first request does not wait.
      async_fetch: { fast_listener: false },
      retry_policy: { num_retries: 3 },
    },
    // Upstream APIs receive the validated token.
    forward: true,
    jwt_cache_config: { jwt_cache_size: JWT_CACHE_SIZE },
    ...(spec.jwt.claimHeaders.length
      ? {
          claim_to_headers: spec.jwt.claimHeaders.map((c) => ({
            header_name: c.header,
            claim_name: c.claim,
          })),
        }
      : {}),
  };
}

const providerNameOf = (p: Json) => `sg_jwt_${digest(p)}`;

export interface JwtPieces {
  provider: Json;
  providerName: string;
  requirement: { name: string; json: Json };
}

/** Specs are immutable: their pieces are computed once (every translate would otherwise hash every app). */
const memo = new WeakMap<AppSpec, JwtPieces>();

export function pieces(spec: AppSpec): JwtPieces {
  let m = memo.get(spec);
  if (!m) {
    const p = provider(spec);
    const providerName = providerNameOf(p);
    const json = { provider_and_audiences: { provider_name: providerName, audiences: spec.jwt.audiences } };
    m = { provider: p, providerName, requirement: { name: `sg_req_${digest(json)}`, json } };
    memo.set(spec, m);
  }
  return m;
}

/** The requirement an app's routes name: its provider with its audiences. */
const requirement = (spec: AppSpec) => pieces(spec).requirement;

export function jwtFilter(apps: AppRecord[]): FilterJson {
  const providers: Json = {};
  const requirementMap: Json = {};
  for (const { spec } of apps) {
    const m = pieces(spec);
    providers[m.providerName] = m.provider;
    requirementMap[m.requirement.name] = m.requirement.json;
  }
  return {
    name: JWT_FILTER,
    typed_config: {
      "@type": TYPE.jwt,
      providers: sorted(providers),
      requirement_map: sorted(requirementMap),
    },
  };
}

/** Key order independent of app order, so equal configs hash (and version) equally. */
function sorted(o: Json): Json {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function jwksClusters(apps: AppRecord[]): Resource[] {
  const byName = new Map<string, Resource>();
  for (const { spec } of apps) {
    const t = jwksTarget(spec.jwt.remoteJwksUri);
    const name = jwksCluster(t.host, t.port);
    const shared = byName.get(name);
    if (shared) {
      shared.apps.push(spec.id);
      continue;
    }
    const tls = t.tls
      ? {
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: { "@type": TYPE.upstreamTls, sni: t.host },
          },
        }
      : {};
    byName.set(name, { name, apps: [spec.id], json: { ...inlineCluster(name, [t]), ...tls } });
  }
  return [...byName.values()];
}

export const jwtAuthn: Feature = {
  name: "jwt_authn",
  // In every chain, even before any app needs it (listeners.ts says why).
  httpFilters: ({ apps }) => [{ json: jwtFilter(apps), apps: apps.map((a) => a.spec.id) }],
  clusters: ({ apps }) => ({ clusters: jwksClusters(apps) }),
  // App routes require the app's requirement; BFF and public routes disable jwt_authn.
  perRoute: (_chain, kind, spec) => ({
    [JWT_FILTER]:
      kind === "app"
        ? { "@type": TYPE.jwtPerRoute, requirement_name: requirement(spec).name }
        : { "@type": TYPE.jwtPerRoute, disabled: true },
  }),
};
