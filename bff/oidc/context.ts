// What the flows of this layer work with, built once in bff/index.ts. Each flow
// function (startLogin, completeLogin, logout, backchannelLogout, accessToken,
// sessionInfo) takes it first, the way openid-client's functions take their
// Configuration, and names in its type the parts it uses.
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { KeyRing } from "../session/crypto.js";
import type { GroupSignIns } from "../session/groups.js";
import type { SessionStore } from "../session/store.js";
import type { OidcClients } from "./client.js";

export interface RefreshSettings {
  /** Refresh when the access token expires within this many seconds. */
  skewS: number;
  /** The provider's timeout; the refresh lock outlives it. */
  opTimeoutMs: number;
  /** How long a request waits for another replica's refresh. */
  refreshWaitMs: number;
  /** After a failed refresh, the session's next one waits this long (ms), doubling per failure in a row… */
  backoffMs: number;
  /** …up to this (ms); each delay jittered to between half and all of it. */
  backoffMaxMs: number;
}

export interface OidcContext {
  /** One openid-client Configuration per app. */
  readonly clients: OidcClients;
  readonly store: SessionStore;
  /** Browsers' sign-ins to app groups and the sessions each lists (bff/oidc/group.ts). */
  readonly groups: GroupSignIns;
  /** Seals the login-state cookie. */
  readonly ring: KeyRing;
  readonly loginTimeoutS: number;
  /** The BFF's path prefix (`/auth`): where the logout callback is. */
  readonly prefix: string;
  readonly refresh: RefreshSettings;
  readonly metrics: Metrics;
  readonly log: Logger;
}
