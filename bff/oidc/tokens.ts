// Hands out a session's access token, refreshing it first when it expires within
// the skew. One refresh per session across all replicas: a Redis lock whose value
// is a fencing token; the winner refreshes and writes only while it still holds the
// lock; the others poll the session until the new token appears and reuse it. This
// matters with refresh-token rotation, where a second use of the old refresh token
// makes the OP revoke the whole grant.
import { setTimeout as sleep } from "node:timers/promises";
import * as oidc from "openid-client";
import type { AppConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Session, SessionStore, TokenSet } from "../session/store.js";
import { isGrantError, isOpUnavailable, type OidcClients, OpUnavailableError } from "./client.js";

export interface AccessToken {
  accessToken: string;
  expiresIn: number;
}

export interface TokenServiceOptions {
  skewS: number;
  opTimeoutMs: number;
  refreshWaitMs: number;
}

/** A token this close to expiry is not handed out when its refresh failed. */
const STALE_MIN_MS = 1000;

/** The refresh could not be settled in time (lock holder slow or gone): an error, not "no session". */
export class RefreshTimeoutError extends Error {}

export function tokenSetFrom(
  res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  previous?: TokenSet,
): TokenSet {
  const expiresIn = res.expiresIn();
  return {
    accessToken: res.access_token,
    // Without rotation the OP may omit refresh_token: keep the old one.
    refreshToken: res.refresh_token ?? previous?.refreshToken,
    idToken: res.id_token ?? previous?.idToken,
    // No expires_in: assume 5 minutes rather than "never" (the filter caches by it).
    expiresAt: Date.now() + (expiresIn ?? 300) * 1000,
    scope: res.scope ?? previous?.scope,
  };
}

export class TokenService {
  constructor(
    private readonly store: SessionStore,
    private readonly clients: OidcClients,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly opts: TokenServiceOptions,
  ) {}

  private fresh(t: TokenSet, now = Date.now()): boolean {
    return t.expiresAt - now > this.opts.skewS * 1000;
  }

  private answer(t: TokenSet): AccessToken {
    return {
      accessToken: t.accessToken,
      expiresIn: Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000)),
    };
  }

  /** null = no live session (unknown, expired, logged out, grant revoked). */
  async get(app: AppConfig, sessionId: string): Promise<AccessToken | null> {
    const s = await this.store.load(app.id, sessionId);
    if (!s) return null;
    if (this.fresh(s.tokens)) return this.answer(s.tokens);
    if (!s.tokens.refreshToken) {
      // Nothing to refresh with: serve what is left, then the session is over.
      return s.tokens.expiresAt > Date.now() ? this.answer(s.tokens) : null;
    }
    return this.refreshSingleFlight(app, s);
  }

  private async refreshSingleFlight(app: AppConfig, first: Session): Promise<AccessToken | null> {
    const deadline = Date.now() + this.opts.refreshWaitMs;
    // The lock must outlive the OP call, else a slow refresh could be fenced out
    // after the OP already rotated the refresh token.
    const lockTtl = this.opts.opTimeoutMs * 2 + 1000;
    let waited = false;
    let s: Session | null = first;
    for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
      const token = await this.store.tryLock(s.h, lockTtl);
      if (token) {
        try {
          // Re-read under the lock: another replica may have just finished.
          const cur = await this.store.peek(s.h);
          if (!cur) return null;
          if (this.fresh(cur.tokens)) return this.answer(cur.tokens);
          return await this.refreshLocked(app, cur, token);
        } finally {
          await this.store.unlock(s.h, token).catch(() => undefined);
        }
      }
      if (!waited) {
        waited = true;
        this.metrics.refreshWaits.inc({ app: app.id });
        this.metrics.refreshConflicts.inc({ app: app.id, kind: "lock_busy" });
      }
      await sleep(20 + Math.floor(Math.random() * 20));
      s = await this.store.peek(s.h);
      if (!s) return null;
      if (this.fresh(s.tokens)) return this.answer(s.tokens);
    }
    throw new RefreshTimeoutError("timed out waiting for the session's refresh");
  }

  private async refreshLocked(app: AppConfig, s: Session, lockToken: string): Promise<AccessToken | null> {
    const config = await this.clients.get(app);
    const end = this.metrics.refreshDuration.startTimer({ app: app.id });
    let tokens: TokenSet;
    try {
      const res = await oidc.refreshTokenGrant(config, s.tokens.refreshToken as string);
      tokens = tokenSetFrom(res, s.tokens);
      this.metrics.refreshes.inc({ app: app.id, result: "ok" });
    } catch (err) {
      if (isGrantError(err) && !isOpUnavailable(err)) {
        // The OP refused the grant (revoked, expired, replayed): the session is over.
        this.metrics.refreshes.inc({ app: app.id, result: "invalid_grant" });
        this.log.info(
          { app: app.id, sub: s.sub, err: (err as Error).message },
          "refresh refused by OP; session removed",
        );
        await this.store.remove(s);
        return null;
      }
      this.metrics.refreshes.inc({ app: app.id, result: "op_error" });
      this.metrics.opErrors.inc({ app: app.id });
      // The refresh was early (within the skew): while the current token is still
      // valid, an unreachable provider costs nothing. Only once it has expired does
      // the caller get the error (and the filter its fail-closed 503).
      if (s.tokens.expiresAt - Date.now() >= STALE_MIN_MS) {
        this.log.warn(
          { app: app.id, err: (err as Error).message },
          "refresh failed; serving the current access token until it expires",
        );
        return this.answer(s.tokens);
      }
      throw err instanceof OpUnavailableError ? err : new OpUnavailableError(err);
    } finally {
      end();
    }
    const written = await this.store.fencedUpdate(s, tokens, lockToken);
    if (written === 0) return null; // logged out while we refreshed
    if (written < 0) {
      // Lock expired under us: another replica may now refresh too. Serve our token,
      // which is valid at the OP, and count it so operators raise timeouts.op_ms.
      this.metrics.refreshConflicts.inc({ app: app.id, kind: "fenced_out" });
      this.log.warn({ app: app.id }, "refresh lock lost before the write; raise timeouts.op_ms");
    }
    return this.answer(tokens);
  }
}
