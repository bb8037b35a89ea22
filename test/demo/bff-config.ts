// The demo BFF's configuration, in one place. It lists no app: the BFF reads
// them (client secrets included) from the xds-server's BffDirectory stream, so
// registering an app with the CLI configures Envoy and the BFF at once.
import { randomBytes } from "node:crypto";
import { type BffConfig, validateConfig } from "../../bff/index.js";

export interface DemoBffInputs {
  issuer: string;
  prefix: string;
  publicPort: number;
  internalPort: number;
  internalKey: string;
  redisUrl: string;
  /** The xds-server's registration API, "host:port", and the BFF-scoped token it accepts. */
  registry: { address: string; token: string };
  /** The BFF refreshes an access token expiring within this (default 30 s). */
  refreshSkewS?: number;
}

export function demoBffConfig(i: DemoBffInputs): BffConfig {
  return validateConfig({
    log_level: process.env.DEMO_LOG_LEVEL ?? "warn",
    allow_insecure_issuer: i.issuer.startsWith("http:"),
    public: { listen: `127.0.0.1:${i.publicPort}`, prefix: i.prefix },
    internal: { listen: `127.0.0.1:${i.internalPort}`, key: i.internalKey },
    // /metrics and the probes, on a port of their own.
    admin: { listen: "127.0.0.1:0" },
    redis: { url: i.redisUrl },
    keys: { keys: { k1: randomBytes(32).toString("base64") } },
    ...(i.refreshSkewS === undefined ? {} : { session: { refresh_skew_s: i.refreshSkewS } }),
    registry: {
      address: i.registry.address,
      token: i.registry.token,
      backoff_min_ms: 100,
      backoff_max_ms: 2000,
    },
  });
}
