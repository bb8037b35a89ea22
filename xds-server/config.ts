// Command-line flags and SESSIONGATE_* environment variables -> ServerConfig.
// A flag wins over its variable; every option has a documented default.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseDuration } from "./identity/duration.js";
import { checkName, checkTrustDomain } from "./identity/spiffe.js";
import { parseHostPort } from "./registry/fields.js";
import { parseSecretKeys, SecretKeyError } from "./registry/secrets.js";
import type { ServerConfig } from "./server.js";

export const OPTIONS = {
  "xds-address": { def: "127.0.0.1", help: "ADS gRPC bind address" },
  "xds-port": { def: "18000", help: "ADS gRPC port (0: pick one)" },
  "xds-insecure": {
    def: "",
    flag: true,
    help: "serve ADS in plaintext, every node trusted as it claims (loopback --xds-address only, unless --xds-insecure-remote)",
  },
  "xds-insecure-remote": { def: "", flag: true, help: "allow --xds-insecure on a non-loopback address" },
  "trust-domain": { def: "", help: "SPIFFE trust domain of the mesh's workload identities (mTLS ADS)" },
  "ca-cert": { def: "", help: "PEM CA certificate (and chain) the server issues workload certificates with" },
  "ca-key": { def: "", help: "PEM private key of --ca-cert" },
  "ca-bundle": {
    def: "",
    help: "PEM roots peers trust (default: the self-signed certificates of --ca-cert)",
  },
  "xds-tls-cert": { def: "", help: "the server's own certificate file (else issued by --ca-cert); reloaded" },
  "xds-tls-key": { def: "", help: "private key of --xds-tls-cert; reloaded" },
  "xds-tls-ca": {
    def: "",
    help: "trust bundle nodes' certificates must chain to (with --xds-tls-cert); reloaded",
  },
  "xds-server-name": { def: "xds", help: "name in the self-issued spiffe://<td>/xds-server/<name>" },
  "xds-cert-ttl": {
    def: "24h",
    help: "lifetime of self-issued certificates (re-issued at 2/3): 90s, 15m, 24h, 30d",
  },
  "xds-tls-dns": {
    def: "localhost",
    help: "DNS SANs of the self-issued server certificate, comma-separated (the bind IP and 127.0.0.1 are added)",
  },
  "api-address": { def: "127.0.0.1", help: "registration API bind address" },
  "api-port": { def: "18001", help: "registration API port" },
  "http-address": { def: "127.0.0.1", help: "HTTP bind address (wasm module, /metrics, /healthz)" },
  "http-port": { def: "18002", help: "HTTP port" },
  "wasm-https-port": {
    def: "0",
    help: "with mTLS ADS and a CA: HTTPS port gateways fetch the wasm module from, with their SDS certificate (0: pick one)",
  },
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
    help: "Redis URL for the registry (redis://, rediss://, redis-sentinel://h1:p1,h2:p2/<master> or redis-cluster://h1:p1,h2:p2); empty: in-memory registry (demo, one replica)",
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

const isFlag = (k: string) => "flag" in OPTIONS[k as OptionName];

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

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

/** mTLS ADS (the default) or an explicit, loud plaintext. */
function xdsSecurity(get: (k: OptionName) => string): Pick<ServerConfig, "xdsInsecure" | "identity"> {
  const bool = (k: OptionName) => ["true", "1", "yes"].includes(get(k).toLowerCase());
  const address = get("xds-address");
  const trustDomain = get("trust-domain");
  const ca =
    get("ca-cert") || get("ca-key") ? { certFile: get("ca-cert"), keyFile: get("ca-key") } : undefined;
  if (ca && (!ca.certFile || !ca.keyFile)) throw new ConfigError("--ca-cert and --ca-key go together");
  const servingFiles = [get("xds-tls-cert"), get("xds-tls-key"), get("xds-tls-ca")];
  if (servingFiles.some(Boolean) && !servingFiles.every(Boolean))
    throw new ConfigError("--xds-tls-cert, --xds-tls-key and --xds-tls-ca go together");
  const insecure = bool("xds-insecure");
  if (insecure) {
    if (ca || servingFiles.some(Boolean))
      throw new ConfigError("--xds-insecure contradicts --ca-cert / --xds-tls-*: choose one");
    if (!LOOPBACK.test(address) && !bool("xds-insecure-remote"))
      throw new ConfigError(
        `--xds-insecure on ${address}: plaintext ADS lets anyone who reaches the port read every gateway's configuration and claim any node; it is allowed on loopback only (add --xds-insecure-remote to force it)`,
      );
    return { xdsInsecure: true };
  }
  if (!ca && !servingFiles[0])
    throw new ConfigError(
      "ADS is served over mTLS: give --trust-domain with --ca-cert/--ca-key (see `sessiongate certs init`) or --xds-tls-cert/--xds-tls-key/--xds-tls-ca, or --xds-insecure for plaintext on loopback",
    );
  if (!trustDomain) throw new ConfigError("--trust-domain is required with mTLS ADS");
  const ttl = parseDuration(get("xds-cert-ttl"));
  if (ttl === undefined || ttl < 60)
    throw new ConfigError("--xds-cert-ttl: expected a duration ≥ 60s like 24h");
  const ips = new Set(["127.0.0.1"]);
  if (IPV4.test(address) && address !== "0.0.0.0") ips.add(address);
  try {
    checkTrustDomain(trustDomain);
    checkName(get("xds-server-name"));
  } catch (e) {
    throw new ConfigError(
      `--${(e as Error).message.startsWith("name") ? "xds-server-name" : "trust-domain"}: ${(e as Error).message}`,
    );
  }
  return {
    xdsInsecure: false,
    identity: {
      trustDomain,
      ca: ca ? { ...ca, bundleFile: get("ca-bundle") || undefined } : undefined,
      serving: servingFiles[0]
        ? { certFile: servingFiles[0], keyFile: servingFiles[1], caFile: servingFiles[2] }
        : undefined,
      serverName: get("xds-server-name"),
      certTtlSeconds: ttl,
      dnsNames: get("xds-tls-dns")
        .split(",")
        .map((d) => d.trim())
        .filter(Boolean),
      ipAddresses: [...ips],
    },
  };
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | "help" {
  const options = Object.fromEntries(
    Object.keys(OPTIONS).map((k) => [k, { type: isFlag(k) ? ("boolean" as const) : ("string" as const) }]),
  );
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
  const get = (k: OptionName): string => {
    const v = values[k];
    if (v === true) return "true";
    return (v as string | undefined) ?? env[envName(k)] ?? OPTIONS[k].def;
  };
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
    wasmHttpsPort: int("wasm-https-port", get("wasm-https-port"), 0, 65535),
    wasmFetchHost:
      get("wasm-fetch-host") ||
      (httpAddress === "0.0.0.0" || httpAddress === "::" ? "127.0.0.1" : httpAddress),
    apiTokens: tokens,
    bffTokens,
    secretKeys,
    apiTls: apiTls(get),
    ...xdsSecurity(get),
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
