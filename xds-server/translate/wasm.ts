// The session-to-token wasm filter: code fetched by Envoy from the control
// plane's HTTP server (remote source, pinned by sha256), configuration JSON
// as fixed in CONTRACTS (filter plugin configuration).
import type { AppRecord } from "../registry/types.js";
import { BFF_INTERNAL, WASM_CODE, WASM_FILTER } from "./names.js";
import { type Json, type TranslateConfig, TYPE } from "./types.js";

export function pluginConfig(apps: AppRecord[], cfg: TranslateConfig): Json {
  return {
    bff_cluster: BFF_INTERNAL,
    bff_authority: cfg.bff.authority,
    bff_path: "/internal/v1/session-token",
    bff_timeout_ms: cfg.bff.timeoutMs,
    bff_internal_key: cfg.bff.internalKey,
    cache: {
      enabled: cfg.cache.enabled,
      slots: cfg.cache.slots,
      skew_s: cfg.cache.skewS,
      max_ttl_s: cfg.cache.maxTtlS,
    },
    apps: apps.map(({ spec }) => ({
      id: spec.id,
      hosts: spec.hosts,
      path_prefix: spec.pathPrefix,
      cookie: spec.session.cookieName,
      allowed_origins: spec.session.allowedOrigins.length
        ? spec.session.allowedOrigins
        : spec.hosts.filter((h) => h !== "*").map((h) => `https://${h}`),
    })),
  };
}

export function wasmFilter(apps: AppRecord[], cfg: TranslateConfig): Json | undefined {
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
        configuration: { "@type": TYPE.stringValue, value: JSON.stringify(pluginConfig(apps, cfg)) },
      },
    },
  };
}
