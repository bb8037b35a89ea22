// Hands out a session's access token, refreshing it first when it expires within
// the skew. One refresh per session across all replicas: a Redis lock whose value
// is a fencing token; the winner refreshes and writes only while it still holds the
// lock; the others serve the still-valid token, or once it has expired poll the
// session until the new token appears and reuse it. This
// matters with refresh-token rotation, where a second use of the old refresh token
// makes the OP revoke the whole grant. A failed refresh backs the session off
// (refresh-backoff.ts): until its retry time nobody asks the OP for it again.
import { setTimeout as sleep } from "node:timers/promises";
import * as oidc from "openid-client";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import type { Session, TokenSet } from "../session/store.js";
import { idpUnreachable, isGrantError, isOpUnavailable } from "./client.js";
import type { OidcContext } from "./context.js";
import { backingOff, failureMemoryMs, nextAttemptAt } from "./refresh-backoff.js";

export interface AccessToken {
  accessToken: string;
  expiresIn: number;
}

type TokenContext = Pick<OidcContext, "store" | "clients" | "refresh" | "metrics" | "log">;

/** A token this close to expiry is not handed out when its refresh failed. */
const STALE_MIN_MS = 1000;

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

function fresh(oc: TokenContext, t: TokenSet, now = Date.now()): boolean {
  return t.expiresAt - now > oc.refresh.skewS * 1000;
}

function answer(t: TokenSet): AccessToken {
  return {
    accessToken: t.accessToken,
    expiresIn: Math.max(0, Math.floor((t.expiresAt - Date.now()) / 1000)),
  };
}

/**
 * The session's access token, refreshed first when due. null = no live session
 * (unknown, expired, logged out, grant revoked). Throws refresh_timeout or
 * idp_unavailable when the token has expired and no new one could be had.
 */
export async function accessToken(
  oc: TokenContext,
  app: AppConfig,
  sessionId: string,
): Promise<AccessToken | null> {
  const s = await oc.store.load(app.id, sessionId);
  if (!s) return null;
  if (fresh(oc, s.tokens)) return answer(s.tokens);
  if (!s.tokens.refreshToken) {
    // Nothing to refresh with: serve what is left, then the session is over.
    return s.tokens.expiresAt > Date.now() ? answer(s.tokens) : null;
  }
  // Backing off after a failed refresh: no lock, no OP call.
  const backoff = await oc.store.refreshBackoff(s.idHash);
  if (backingOff(backoff)) return waitOutBackoff(oc, app, s.tokens);
  return refreshSingleFlight(oc, app, s);
}

/** While a session backs off: its still-valid token, or fail closed once that has expired. */
function waitOutBackoff(oc: TokenContext, app: AppConfig, t: TokenSet): AccessToken {
  oc.metrics.refreshBackoffs.inc({ app: app.id });
  if (t.expiresAt - Date.now() >= STALE_MIN_MS) return answer(t);
  throw idpUnreachable(new Error("the session's last refresh failed; backing off before the next attempt"));
}

async function refreshSingleFlight(
  oc: TokenContext,
  app: AppConfig,
  first: Session,
): Promise<AccessToken | null> {
  const { store } = oc;
  const deadline = Date.now() + oc.refresh.refreshWaitMs;
  // The lock must outlive the OP call, else a slow refresh could be fenced out
  // after the OP already rotated the refresh token.
  const lockTtl = oc.refresh.opTimeoutMs * 2 + 1000;
  let waited = false;
  let s: Session | null = first;
  for (let attempt = 0; Date.now() < deadline && attempt < 10_000; attempt++) {
    const token = await store.tryLock(s.idHash, lockTtl);
    if (token) {
      try {
        // Re-read under the lock: another replica may have just finished.
        const cur = await store.peek(s.idHash);
        if (!cur) return null;
        if (fresh(oc, cur.tokens)) return answer(cur.tokens);
        // Another replica's refresh may have failed just before we got the lock.
        const backoff = await store.refreshBackoff(cur.idHash);
        if (backingOff(backoff)) return waitOutBackoff(oc, app, cur.tokens);
        return await refreshLocked(oc, app, cur, token, backoff?.failures ?? 0);
      } finally {
        await store.unlock(s.idHash, token).catch(() => undefined);
      }
    }
    if (!waited) {
      oc.metrics.refreshConflicts.inc({ app: app.id, kind: "lock_busy" });
      // Someone else is refreshing: while the current token is valid, serve it
      // instead of waiting on the OP (a slow one would hold every request of
      // the session — and each of them is a call from the filter).
      if (s.tokens.expiresAt - Date.now() >= STALE_MIN_MS) return answer(s.tokens);
      waited = true;
      oc.metrics.refreshWaits.inc({ app: app.id });
    }
    await sleep(20 + Math.floor(Math.random() * 20));
    s = await store.peek(s.idHash);
    if (!s) return null;
    if (fresh(oc, s.tokens)) return answer(s.tokens);
  }
  throw new SessiongateError("refresh_timeout", "timed out waiting for the session's refresh");
}

async function refreshLocked(
  oc: TokenContext,
  app: AppConfig,
  s: Session,
  lockToken: string,
  /** Failed refreshes in a row before this one. */
  failures: number,
): Promise<AccessToken | null> {
  const { metrics, log } = oc;
  const end = metrics.refreshDuration.startTimer({ app: app.id });
  let tokens: TokenSet;
  try {
    // Discovery is part of the refresh: a BFF started while the OP is down must
    // back off and serve the still-valid token like any other failed refresh.
    const config = await oc.clients.get(app);
    const res = await oidc.refreshTokenGrant(config, s.tokens.refreshToken as string);
    tokens = tokenSetFrom(res, s.tokens);
    metrics.refreshes.inc({ app: app.id, result: "ok" });
  } catch (err) {
    if (isGrantError(err) && !isOpUnavailable(err)) {
      // The OP refused the grant (revoked, expired, replayed): the session is over.
      metrics.refreshes.inc({ app: app.id, result: "invalid_grant" });
      log.info(
        { app: app.id, sub: s.sub, err: (err as Error).message },
        "refresh refused by OP; session removed",
      );
      await oc.store.remove(s);
      return null;
    }
    metrics.refreshes.inc({ app: app.id, result: "op_error" });
    metrics.opErrors.inc({ app: app.id });
    const retryAt = nextAttemptAt(oc.refresh, failures + 1, s.tokens.expiresAt);
    await oc.store
      .setRefreshBackoff(s.idHash, { failures: failures + 1, retryAt }, failureMemoryMs(oc.refresh))
      .catch((e: Error) => log.warn({ app: app.id, err: e.message }, "could not record the refresh backoff"));
    // The refresh was early (within the skew): while the current token is still
    // valid, an unreachable provider costs nothing. Only once it has expired does
    // the caller get the error (and the filter its fail-closed 503).
    if (s.tokens.expiresAt - Date.now() >= STALE_MIN_MS) {
      log.warn(
        { app: app.id, err: (err as Error).message },
        "refresh failed; serving the current access token until it expires",
      );
      return answer(s.tokens);
    }
    throw err instanceof SessiongateError && err.code === "idp_unavailable" ? err : idpUnreachable(err);
  } finally {
    end();
  }
  if (failures > 0) await oc.store.clearRefreshBackoff(s.idHash).catch(() => undefined);
  const written = await oc.store.fencedUpdate(s, tokens, lockToken);
  if (written === 0) return null; // logged out while we refreshed
  if (written < 0) {
    // Lock expired under us: another replica may now refresh too. Serve our token,
    // which is valid at the OP, and count it so operators raise timeouts.op_ms.
    metrics.refreshConflicts.inc({ app: app.id, kind: "fenced_out" });
    log.warn({ app: app.id }, "refresh lock lost before the write; raise timeouts.op_ms");
  }
  return answer(tokens);
}
