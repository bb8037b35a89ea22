// The session-to-token wasm filter: code fetched by Envoy from the control
// plane's HTTP server (remote source, pinned by sha256). Its plugin
// configuration (docs/architecture.md#filter-plugin-configuration) lists no apps, so it
// is the same for every registry: an app change does not re-send it over
// ECDS nor make Envoy reconfigure the VM. Each app's settings travel on its
// own routes instead (routeMetadata), and the filter reads them from the
// matched route (filter/README.md, Configuration).
//
// The filter and the cluster it is downloaded from on every listener: on the
// gateway it swaps the route's app cookie and drops every other __Host-sg-*
// cookie; on sidecars (no app on their routes) it only drops them. The app
// settings go on the gateway's app routes and BFF routes; on BFF routes the
// filter keeps only their app's own session and login cookies (the BFF reads
// them); it is disabled on public routes (Cookie removed there).
import { defaultCookieName, INTERNAL_TOKEN_PATH, ROUTE_METADATA } from "../../contracts/rules.js";
import type { AppSpec } from "../registry/types.js";
import { inlineCluster } from "./clusters.js";
import type { Feature, FilterJson } from "./feature.js";
import { BFF_INTERNAL, WASM_CODE, WASM_FILTER } from "./names.js";
import { meshUpstreamTls } from "./tls.js";
import { type Json, type TranslateConfig, TYPE } from "./types.js";

/** filter_metadata namespace and key the filter reads (filter/assembly/route.ts). */
export const ROUTE_METADATA_NAMESPACE = ROUTE_METADATA.namespace;
export const ROUTE_METADATA_KEY = ROUTE_METADATA.key;

export function pluginConfig(cfg: TranslateConfig): Json {
  return {
    bff_cluster: BFF_INTERNAL,
    bff_authority: cfg.bff.authority,
    bff_path: INTERNAL_TOKEN_PATH,
    bff_timeout_ms: cfg.bff.timeoutMs,
    // In a mesh the BFF authenticates the gateway by its client certificate:
    // no shared secret is written into the (ECDS-delivered) plugin config.
    ...(cfg.mesh ? {} : { bff_internal_key: cfg.bff.internalKey }),
    cache: {
      enabled: cfg.cache.enabled,
      slots: cfg.cache.slots,
      skew_s: cfg.cache.skewS,
      max_ttl_s: cfg.cache.maxTtlS,
    },
    // Required by the filter, empty here: routes name their app (routeMetadata).
    apps: [],
  };
}

/** What the filter needs of one app on its routes: id, cookie name (left out when the default), allowed origins. */
export function routeApp(spec: AppSpec): Json {
  return {
    id: spec.id,
    ...(spec.session.cookieName === defaultCookieName(spec.id) ? {} : { cookie: spec.session.cookieName }),
    allowed_origins: spec.session.allowedOrigins.length
      ? spec.session.allowedOrigins
      : spec.hosts.filter((h) => h !== "*").map((h) => `https://${h}`),
  };
}

/**
 * A Route's `metadata`: the app's settings as one JSON string (parsed once per
 * value by the filter). `bff`: the route goes to the BFF, where the filter
 * forwards only this app's own session and login cookies, untouched.
 */
export function routeMetadata(spec: AppSpec, bff = false): Json {
  return {
    filter_metadata: {
      [ROUTE_METADATA_NAMESPACE]: {
        [ROUTE_METADATA_KEY]: JSON.stringify(bff ? { ...routeApp(spec), bff: true } : routeApp(spec)),
      },
    },
  };
}

export function wasmFilter(cfg: TranslateConfig): FilterJson | undefined {
  if (!cfg.wasm) return undefined;
  return {
    name: WASM_FILTER,
    typed_config: {
      "@type": TYPE.wasm,
      config: {
        name: "session-to-token",
        root_id: "session_to_token",
        vm_config: {
          // A new module gets a new VM rather than sharing the old one.
          vm_id: `session_to_token_${cfg.wasm.sha256.slice(0, 12)}`,
          runtime: "envoy.wasm.runtime.v8",
          code: {
            remote: {
              http_uri: { uri: cfg.wasm.url, cluster: WASM_CODE, timeout: "10s" },
              sha256: cfg.wasm.sha256,
              retry_policy: { num_retries: 3 },
            },
          },
        },
        configuration: { "@type": TYPE.stringValue, value: JSON.stringify(pluginConfig(cfg)) },
      },
    },
  };
}

export const sessionToToken: Feature = {
  name: "session-to-token",
  // On sidecars too: their routes carry no app, so there the filter only drops
  // every __Host-sg-* cookie (invariant 6 on every listener), never calls the BFF.
  httpFilters({ cfg }) {
    const filter = wasmFilter(cfg);
    // The plugin configuration lists no apps (they are on their routes).
    return filter ? [{ json: filter, apps: [] }] : [];
  },
  clusters: ({ cfg }) => ({
    clusters: cfg.wasm
      ? [
          {
            name: WASM_CODE,
            apps: [],
            // In a mesh the module comes over mTLS from spiffe://<td>/xds-server/*.
            json: inlineCluster(
              WASM_CODE,
              [cfg.wasm.codeServer],
              cfg.mesh ? meshUpstreamTls(cfg.mesh, ["xds-server"]) : {},
            ),
          },
        ]
      : [],
  }),
  // The filter learns the app from its route; on the BFF's routes it keeps
  // that app's own cookies (the BFF reads them) and drops every other one.
  routeFields: ({ role, cfg }, kind, spec) =>
    role === "gateway" && cfg.wasm && kind !== "public"
      ? { metadata: routeMetadata(spec, kind === "bff") }
      : undefined,
  // Public routes have no session to swap and remove the Cookie header.
  perRoute: ({ role }, kind) =>
    role === "gateway" && kind === "public"
      ? { [WASM_FILTER]: { "@type": TYPE.filterConfig, disabled: true } }
      : undefined,
};
