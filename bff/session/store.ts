// Session records in Redis. Layout (all keys under the configured prefix, `sg:` by default):
//   s:{<idHash>}       the session (JSON; tokens and user claims AES-GCM encrypted), TTL = idle, capped by absolute
//   s:{<idHash>}:lock  the refresh lock (same hash slot as the session, so the fenced write is one Lua call in Cluster too)
//   s:{<idHash>}:retry after failed refreshes: "<failures in a row>:<retry at, epoch ms>" (bff/oidc/refresh-backoff.ts)
//   idx:sid:<app>:<x> / idx:sub:<app>:<x>   sets of <idHash> for back-channel logout, TTL = absolute timeout
// <idHash> = HMAC-SHA256(session id): the id itself is never stored; <x> = SHA-256 of the sid/sub.
import { createHash, randomBytes } from "node:crypto";
import type { SessionCache } from "./cache.js";
import { decrypt, encrypt, hashSessionId, type KeyRing, newSessionId } from "./crypto.js";
import { isRedisUnavailable, type RedisClient } from "./redis.js";

export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
  scope?: string;
}

export interface SessionData {
  tokens: TokenSet;
  /** Selected ID-token / userinfo claims for the `session` endpoint. */
  user: Record<string, unknown>;
}

export interface Session extends SessionData {
  /** HMAC-SHA256 of the session id (the cookie value): the session's Redis key part. */
  idHash: string;
  app: string;
  sub: string;
  sid?: string;
  createdAt: number;
  absExpiresAt: number;
}

/** The JSON stored under s:{<idHash>}. */
interface SessionRecord {
  /** Format version. Records written before it had this name carry `v: 1`; nothing reads either. */
  version: 1;
  app: string;
  sub: string;
  sid?: string;
  createdAt: number;
  absExpiresAt: number;
  data: string;
}

/** A session's failed refreshes in a row, and when the next one may be tried. */
export interface RefreshBackoff {
  failures: number;
  /** Epoch ms. */
  retryAt: number;
}

export interface StoreOptions {
  prefix: string;
  ring: KeyRing;
  idleTimeoutS: number;
  absoluteTimeoutS: number;
}

// Writes the new session only while the caller still holds the lock (the fencing
// value) and the session still exists (not logged out during the refresh), and
// tells every replica's session cache (ARGV[3] the channel, ARGV[4] the hash).
const FENCED_WRITE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1`;

// Deletes a session and tells every replica's session cache, in one step.
const DELETE_AND_PUBLISH = `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`;

const COMPARE_AND_DELETE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const sha = (s: string) => createHash("sha256").update(s).digest("base64url");

export class SessionStore {
  /** The session cache's invalidation channel (every replica listens: cache.ts). */
  readonly channel: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: StoreOptions,
    private readonly cache?: SessionCache,
  ) {
    this.channel = `${opts.prefix}s:invalidate`;
  }

  hash(sessionId: string): string {
    return hashSessionId(this.opts.ring, sessionId);
  }

  private key(idHash: string): string {
    return `${this.opts.prefix}s:{${idHash}}`;
  }

  private lockKey(idHash: string): string {
    return `${this.opts.prefix}s:{${idHash}}:lock`;
  }

  private idx(kind: "sid" | "sub", app: string, v: string): string {
    return `${this.opts.prefix}idx:${kind}:${app}:${sha(v)}`;
  }

  private seal(idHash: string, s: Omit<Session, "idHash">): string {
    const record: SessionRecord = {
      version: 1,
      app: s.app,
      sub: s.sub,
      sid: s.sid,
      createdAt: s.createdAt,
      absExpiresAt: s.absExpiresAt,
      // AAD binds the blob to this session key: a blob copied to another key won't open.
      data: encrypt(this.opts.ring, JSON.stringify({ tokens: s.tokens, user: s.user }), idHash),
    };
    return JSON.stringify(record);
  }

  private open(idHash: string, raw: string): Session | null {
    try {
      const record = JSON.parse(raw) as SessionRecord;
      const data = JSON.parse(decrypt(this.opts.ring, record.data, idHash)) as SessionData;
      return {
        idHash,
        app: record.app,
        sub: record.sub,
        sid: record.sid,
        createdAt: record.createdAt,
        absExpiresAt: record.absExpiresAt,
        ...data,
      };
    } catch {
      return null; // unknown key id (retired) or tampered: treat as no session
    }
  }

  /** Writes a new session under a fresh id; returns the id (the cookie value). */
  async create(app: string, sub: string, sid: string | undefined, data: SessionData): Promise<string> {
    const id = newSessionId();
    const idHash = this.hash(id);
    const now = Date.now();
    const absMs = this.opts.absoluteTimeoutS * 1000;
    const value = this.seal(idHash, { app, sub, sid, createdAt: now, absExpiresAt: now + absMs, ...data });
    const ttl = Math.min(this.opts.idleTimeoutS * 1000, absMs);
    const idx: string[] = [this.idx("sub", app, sub)];
    if (sid) idx.push(this.idx("sid", app, sid));
    if (isCluster(this.redis)) {
      // Index keys live in other hash slots; MULTI can't span slots in Cluster mode.
      await this.redis.set(this.key(idHash), value, "PX", ttl);
      for (const k of idx) await this.redis.multi().sadd(k, idHash).pexpire(k, absMs).exec();
      return id;
    }
    const m = this.redis.multi();
    m.set(this.key(idHash), value, "PX", ttl);
    for (const k of idx) m.sadd(k, idHash).pexpire(k, absMs);
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
    return id;
  }

  /** Loads a session and slides its idle timeout; null when unknown, expired or for another app. */
  async load(app: string, sessionId: string): Promise<Session | null> {
    const idHash = this.hash(sessionId);
    // A cached session was read (and its idle timeout slid) at most maxAgeMs ago.
    const cached = this.cache?.get(idHash);
    if (cached) return cached.app === app ? cached : null;
    const ticket = this.cache?.ticket() ?? 0;
    const idleMs = this.opts.idleTimeoutS * 1000;
    // Slide the idle timeout, capped by the absolute one: in the same command when the
    // cache knows the session's absolute expiry, else by a second one when it bites.
    const known = this.cache?.absExpiry(idHash);
    const before = Date.now();
    const capped = known !== undefined && known - before > 0 && known - before < idleMs;
    const raw = await this.redis.getex(this.key(idHash), "PX", capped ? known - before : idleMs);
    if (!raw) return null;
    const s = this.open(idHash, raw);
    const now = Date.now();
    if (!s || s.app !== app) return null;
    const left = s.absExpiresAt - now;
    if (left <= 0) {
      await this.remove(s);
      return null;
    }
    if (left < idleMs && !(capped && known === s.absExpiresAt))
      await this.redis.pexpire(this.key(idHash), left);
    this.cache?.fill(s, ticket, now);
    return s;
  }

  /** Re-reads a session by hash without touching its TTL (used while waiting for a refresh). */
  async peek(idHash: string): Promise<Session | null> {
    const raw = await this.redis.get(this.key(idHash));
    return raw ? this.open(idHash, raw) : null;
  }

  async remove(s: Pick<Session, "idHash" | "app" | "sub" | "sid">): Promise<void> {
    // This process stops serving it before the write, every replica right after it.
    this.cache?.invalidate(s.idHash);
    await this.redis.eval(DELETE_AND_PUBLISH, 1, this.key(s.idHash), this.channel, s.idHash);
    this.cache?.invalidate(s.idHash);
    await this.redis.srem(this.idx("sub", s.app, s.sub), s.idHash);
    if (s.sid) await this.redis.srem(this.idx("sid", s.app, s.sid), s.idHash);
  }

  /** Deletes every session of an app matching the OP session id (or else the subject). */
  async removeBy(app: string, by: { sid?: string; sub?: string }): Promise<number> {
    const k = by.sid ? this.idx("sid", app, by.sid) : by.sub ? this.idx("sub", app, by.sub) : null;
    if (!k) return 0;
    const members = await this.redis.smembers(k);
    let n = 0;
    for (const idHash of members) {
      const s = await this.peek(idHash);
      // With sid and sub both given, both must match (OIDC Back-Channel Logout §2.7).
      if (s && by.sub && s.sub !== by.sub) continue;
      if (s) {
        await this.remove(s);
        n++;
      }
      await this.redis.srem(k, idHash);
    }
    return n;
  }

  // ---- refresh lock (fencing value = random token) ----

  async tryLock(idHash: string, ttlMs: number): Promise<string | null> {
    const token = randomBytes(16).toString("base64url");
    const ok = await this.redis.set(this.lockKey(idHash), token, "PX", ttlMs, "NX");
    return ok === "OK" ? token : null;
  }

  async lockHeld(idHash: string): Promise<boolean> {
    return (await this.redis.exists(this.lockKey(idHash))) === 1;
  }

  async unlock(idHash: string, token: string): Promise<void> {
    await this.redis.eval(COMPARE_AND_DELETE, 1, this.lockKey(idHash), token);
  }

  // ---- refresh backoff (written only by the lock holder, so no race between replicas) ----

  private retryKey(idHash: string): string {
    return `${this.opts.prefix}s:{${idHash}}:retry`;
  }

  /** The session's refresh backoff, null when its last refresh did not fail. */
  async refreshBackoff(idHash: string): Promise<RefreshBackoff | null> {
    const raw = await this.redis.get(this.retryKey(idHash));
    const m = raw ? /^(\d+):(\d+)$/.exec(raw) : null;
    return m ? { failures: Number(m[1]), retryAt: Number(m[2]) } : null;
  }

  /** Records a failed refresh: retry not before `b.retryAt`; the record is kept `keepMs` longer. */
  async setRefreshBackoff(idHash: string, b: RefreshBackoff, keepMs: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(b.retryAt - Date.now() + keepMs));
    await this.redis.set(this.retryKey(idHash), `${b.failures}:${Math.round(b.retryAt)}`, "PX", ttl);
  }

  async clearRefreshBackoff(idHash: string): Promise<void> {
    await this.redis.del(this.retryKey(idHash));
  }

  /** Stores refreshed tokens if `token` still holds the lock: 1 written, 0 session gone, -1 lock lost. */
  async fencedUpdate(s: Session, tokens: TokenSet, token: string): Promise<number> {
    const value = this.seal(s.idHash, { ...s, tokens });
    this.cache?.invalidate(s.idHash);
    try {
      return Number(
        await this.redis.eval(
          FENCED_WRITE,
          2,
          this.lockKey(s.idHash),
          this.key(s.idHash),
          token,
          value,
          this.channel,
          s.idHash,
        ),
      );
    } finally {
      this.cache?.invalidate(s.idHash);
    }
  }

  /** Whether Redis answers now; `status` is the client's connection state. */
  async health(): Promise<{ ready: boolean; status: string }> {
    const ready =
      this.redis.status === "ready" &&
      (await this.redis.ping().then(
        () => true,
        () => false,
      ));
    return { ready, status: this.redis.status };
  }

  /** Whether `err` (from any call) means the store is down rather than a fault of the call. */
  isUnavailable(err: unknown): boolean {
    return this.redis.status !== "ready" || isRedisUnavailable(err);
  }

  /** One-time use marker (back-channel logout `jti` replay check): true the first time within `ttlMs`. */
  async once(name: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.opts.prefix}once:${sha(name)}`, "1", "PX", ttlMs, "NX")) === "OK";
  }
}

function isCluster(r: RedisClient): boolean {
  return (r as { isCluster?: boolean }).isCluster === true;
}
