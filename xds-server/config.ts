// Command-line flags and SESSIONGATE_* environment variables -> ServerConfig.
// A flag wins over its variable; every option has a documented default.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseHostPort } from "./registry/fields.js";
import { parseSecretKeys, SecretKeyError } from "./registry/secrets.js";
import type { ServerConfig } from "./server.js";

export const OPTIONS = {
  "xds-address": { def: "127.0.0.1", help: "ADS gRPC bind address" },
  "xds-port": { def: "18000", help: "ADS gRPC port (0: pick one)" },
  "api-address": { def: "127.0.0.1", help: "registration API bind address" },
  "api-port": { def: "18001", help: "registration API port" },
  "http-address": { def: "127.0.0.1", help: "HTTP bind address (wasm module, /metrics, /healthz)" },
  "http-port": { def: "18002", help: "HTTP port" },
  "wasm-fetch-host": {
    def: "",
    help: "host Envoy uses to fetch the wasm module (default: http address, 127.0.0.1 for 0.0.0.0)",
  },
  "api-token": {
    def: "",
    help: "bearer token(s) for the registration API, comma-separated (>= 16 chars each)",
  },
  "api-token-file": { def: "", help: "file holding the API token(s), one per line" },
  "bff-token": {
    def: "",
    help: "bearer token(s) for the BFF's directory stream (reads client secrets), comma-separated (>= 16 chars, not an API token)",
  },
  "bff-token-file": { def: "", help: "file holding the BFF token(s), one per line" },
  "secret-keys": {
    def: "",
    help: "client-secret encryption keys kid:base64(32 bytes), comma-separated; old keys still decrypt",
  },
  "secret-keys-file": { def: "", help: "file holding the secret keys, one kid:base64 per line" },
  "secret-key-active": { def: "", help: "key id new secrets are sealed with (default: the last key)" },
  "api-tls-cert": { def: "", help: "PEM certificate for the registration API (enables TLS)" },
  "api-tls-key": { def: "", help: "PEM private key for --api-tls-cert" },
  "api-tls-client-ca": { def: "", help: "PEM CA bundle: require client certificates signed by it (mTLS)" },
  "redis-url": {
    def: "",
    help: "Redis URL for the registry (redis://, rediss://, or redis-sentinel://h1:p1,h2:p2/<master>); empty: in-memory registry (demo, one replica)",
  },
  "redis-prefix": { def: "sg:", help: "Redis key prefix" },
  "wasm-file": {
    def: "build/session-to-token.wasm",
    help: "session-to-token module served to gateways (pinned by sha256)",
  },
  "bff-public": {
    def: "127.0.0.1:3000",
    help: "BFF public listener host:port (routed under <app prefix><bff prefix>)",
  },
  "bff-internal": { def: "127.0.0.1:3001", help: "BFF internal token endpoint host:port (never routed)" },
  "bff-prefix": { def: "/auth", help: "BFF public route prefix" },
  "bff-authority": { def: "sessiongate-bff", help: ":authority the wasm filter sends to the BFF" },
  "bff-internal-key": { def: "", help: "shared secret the wasm filter sends as x-sessiongate-internal-key" },
  "bff-timeout-ms": { def: "2000", help: "wasm filter -> BFF call timeout" },
  "cache-enabled": { def: "true", help: "wasm filter token cache on/off" },
  "cache-slots": { def: "16384", help: "wasm filter token cache slots (bounds its memory)" },
  "cache-skew-s": { def: "10", help: "cache until expiry minus this skew" },
  "cache-max-ttl-s": {
    def: "30",
    help: "upper bound on a cached token's life: logout takes effect within it",
  },
  "gateway-address": {
    def: "0.0.0.0",
    help: "gateway listener address (node metadata listener_address overrides)",
  },
  "gateway-port": { def: "10000", help: "gateway listener port (node metadata listener_port overrides)" },
  "log-level": { def: "info", help: "pino log level" },
} as const;

export type OptionName = keyof typeof OPTIONS;

export const envName = (k: string) => `SESSIONGATE_${k.toUpperCase().replace(/-/g, "_")}`;

export class ConfigError extends Error {}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max)
    throw new ConfigError(`--${name}: expected an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function helpText(): string {
  const lines = Object.entries(OPTIONS).map(
    ([k, o]) =>
      `  --${k.padEnd(18)} ${o.help}\n  ${"".padEnd(20)} env ${envName(k)}${o.def ? `, default ${o.def}` : ""}`,
  );
  return `Usage: sessiongate xds-server [options]\n\nThe sessiongate xDS control plane: ADS (SotW + Delta) for Envoy, the\nregistration gRPC API, and the wasm module server.\n\nOptions:\n${lines.join("\n")}\n  --help               show this help\n\nExit codes: 0 stopped cleanly, 1 runtime failure, 2 bad configuration.\n`;
}

function apiTls(get: (k: OptionName) => string): ServerConfig["apiTls"] {
  const cert = get("api-tls-cert");
  const key = get("api-tls-key");
  const ca = get("api-tls-client-ca");
  if (!cert && !key && !ca) return undefined;
  if (!cert || !key) throw new ConfigError("--api-tls-cert and --api-tls-key go together");
  return { cert: readFileSync(cert), key: readFileSync(key), clientCa: ca ? readFileSync(ca) : undefined };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | "help" {
  const options = Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: "string" as const }]));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: { ...options, help: { type: "boolean" } },
      strict: true,
    }).values;
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  if (values.help) return "help";
  const get = (k: OptionName): string =>
    (values[k] as string | undefined) ?? env[envName(k)] ?? OPTIONS[k].def;
  const tokens = [
    ...get("api-token").split(","),
    ...(get("api-token-file") ? readFileSync(get("api-token-file"), "utf8").split("\n") : []),
  ]
    .map((t) => t.trim())
    .filter(Boolean);
  if (tokens.length === 0)
    throw new ConfigError(
      `an API token is required (--api-token, --api-token-file or ${envName("api-token")})`,
    );
  if (tokens.some((t) => t.length < 16)) throw new ConfigError("API tokens must be at least 16 characters");
  const bffTokens = [
    ...get("bff-token").split(","),
    ...(get("bff-token-file") ? readFileSync(get("bff-token-file"), "utf8").split("\n") : []),
  ]
    .map((t) => t.trim())
    .filter(Boolean);
  if (bffTokens.some((t) => t.length < 16)) throw new ConfigError("--bff-token: at least 16 characters each");
  if (bffTokens.some((t) => tokens.includes(t)))
    throw new ConfigError("--bff-token: must differ from every --api-token (the BFF token reads secrets)");
  const keyText = [
    get("secret-keys"),
    get("secret-keys-file") ? readFileSync(get("secret-keys-file"), "utf8") : "",
  ]
    .filter(Boolean)
    .join("\n");
  let secretKeys: ServerConfig["secretKeys"];
  try {
    if (keyText.trim()) secretKeys = parseSecretKeys(keyText, get("secret-key-active") || undefined);
    else if (get("secret-key-active")) throw new SecretKeyError("--secret-key-active needs --secret-keys");
  } catch (e) {
    throw new ConfigError(`--secret-keys: ${(e as Error).message.replace(/^secret keys: /, "")}`);
  }
  // A Redis registry outlives the process: secrets sealed with a throw-away
  // key would be unreadable after a restart or by another replica. Where a
  // BFF reads them (a BFF token is set), that is a broken deployment: refuse.
  if (get("redis-url") && bffTokens.length && !secretKeys)
    throw new ConfigError(
      `--secret-keys (or --secret-keys-file, ${envName("secret-keys")}) is required with --redis-url and --bff-token`,
    );
  const hp = (k: OptionName) => {
    try {
      return parseHostPort(`--${k}`, get(k));
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  };
  const httpAddress = get("http-address");
  const prefix = get("bff-prefix");
  if (!/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(prefix))
    throw new ConfigError(`--bff-prefix: expected a path like /auth, got ${JSON.stringify(prefix)}`);
  return {
    xds: { address: get("xds-address"), port: int("xds-port", get("xds-port"), 0, 65535) },
    api: { address: get("api-address"), port: int("api-port", get("api-port"), 0, 65535) },
    http: { address: httpAddress, port: int("http-port", get("http-port"), 0, 65535) },
    wasmFetchHost:
      get("wasm-fetch-host") ||
      (httpAddress === "0.0.0.0" || httpAddress === "::" ? "127.0.0.1" : httpAddress),
    apiTokens: tokens,
    bffTokens,
    secretKeys,
    apiTls: apiTls(get),
    redisUrl: get("redis-url") || undefined,
    redisPrefix: get("redis-prefix"),
    wasmFile: get("wasm-file") || undefined,
    bff: {
      publicAddr: hp("bff-public"),
      internalAddr: hp("bff-internal"),
      prefix,
      authority: get("bff-authority"),
      internalKey: get("bff-internal-key"),
      timeoutMs: int("bff-timeout-ms", get("bff-timeout-ms"), 1, 60000),
    },
    cache: {
      enabled: get("cache-enabled") !== "false",
      slots: int("cache-slots", get("cache-slots"), 1, 1 << 22),
      skewS: int("cache-skew-s", get("cache-skew-s"), 0, 3600),
      maxTtlS: int("cache-max-ttl-s", get("cache-max-ttl-s"), 1, 86400),
    },
    gateway: { address: get("gateway-address"), port: int("gateway-port", get("gateway-port"), 1, 65535) },
    logLevel: get("log-level"),
  };
}
