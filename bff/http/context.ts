// What the route handlers share (built once in bff/index.ts).
import type { AppConfig, BffConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { OidcClients } from "../oidc/client.js";
import type { TokenService } from "../oidc/tokens.js";
import type { KeyRing } from "../session/crypto.js";
import type { RedisClient } from "../session/redis.js";
import type { SessionStore } from "../session/store.js";

export interface Ctx {
  config: BffConfig;
  apps: Map<string, AppConfig>;
  ring: KeyRing;
  redis: RedisClient;
  store: SessionStore;
  clients: OidcClients;
  tokens: TokenService;
  metrics: Metrics;
  log: Logger;
  /** Set when apps also come from the xds-server's directory stream. */
  registry?: { readonly ready: boolean };
}
