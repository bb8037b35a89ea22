// What the route handlers share (built once in bff/index.ts). Handlers parse the
// request, call a flow of bff/oidc with `oidc` and render its result; they hold
// no key ring, Redis client or session store of their own.
import type { AppConfig, BffConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { OidcContext } from "../oidc/context.js";
import type { SessionStore } from "../session/store.js";

export interface Ctx {
  config: Pick<BffConfig, "prefix" | "internalKey" | "internalTls">;
  apps: Map<string, AppConfig>;
  /** What the flows of bff/oidc take first. */
  oidc: OidcContext;
  /** The session store's state, for /readyz and the error answers. */
  store: Pick<SessionStore, "health" | "isUnavailable">;
  metrics: Metrics;
  log: Logger;
  /** Set when apps also come from the xds-server's directory stream. */
  registry?: { readonly ready: boolean };
}
