// Session records in Redis. Layout (all keys under the configured prefix, `sg:` by default):
//   s:{<h>}          the session (JSON; tokens and user claims AES-GCM encrypted), TTL = idle, capped by absolute
//   s:{<h>}:lock     the refresh lock (same hash slot as the session, so the fenced write is one Lua call in Cluster too)
//   idx:sid:<app>:<x> / idx:sub:<app>:<x>   sets of <h> for back-channel logout, TTL = absolute timeout
// <h> = HMAC-SHA256(session id): the id itself is never stored; <x> = SHA-256 of the sid/sub.
import { createHash, randomBytes } from "node:crypto";
import { decrypt, encrypt, hashSessionId, type KeyRing, newSessionId } from "./crypto.js";
import type { RedisClient } from "./redis.js";

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
  h: string;
  app: string;
  sub: string;
  sid?: string;
  createdAt: number;
  absExpiresAt: number;
}

interface Stored {
  v: 1;
  app: string;
  sub: string;
  sid?: string;
  createdAt: number;
  absExpiresAt: number;
  data: string;
}

export interface StoreOptions {
  prefix: string;
  ring: KeyRing;
  idleTimeoutS: number;
  absoluteTimeoutS: number;
}

// Writes the new session only while the caller still holds the lock (the fencing
// value) and the session still exists (not logged out during the refresh).
const FENCED_WRITE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'KEEPTTL')
return 1`;

const COMPARE_AND_DELETE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const sha = (s: string) => createHash("sha256").update(s).digest("base64url");

export class SessionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly opts: StoreOptions,
  ) {}

  hash(sessionId: string): string {
    return hashSessionId(this.opts.ring, sessionId);
  }

  private key(h: string): string {
    return `${this.opts.prefix}s:{${h}}`;
  }

  private lockKey(h: string): string {
    return `${this.opts.prefix}s:{${h}}:lock`;
  }

  private idx(kind: "sid" | "sub", app: string, v: string): string {
    return `${this.opts.prefix}idx:${kind}:${app}:${sha(v)}`;
  }

  private seal(h: string, s: Omit<Session, "h">): string {
    const stored: Stored = {
      v: 1,
      app: s.app,
      sub: s.sub,
      sid: s.sid,
      createdAt: s.createdAt,
      absExpiresAt: s.absExpiresAt,
      // AAD binds the blob to this session key: a blob copied to another key won't open.
      data: encrypt(this.opts.ring, JSON.stringify({ tokens: s.tokens, user: s.user }), h),
    };
    return JSON.stringify(stored);
  }

  private open(h: string, raw: string): Session | null {
    let st: Stored;
    try {
      st = JSON.parse(raw) as Stored;
      const d = JSON.parse(decrypt(this.opts.ring, st.data, h)) as SessionData;
      return {
        h,
        app: st.app,
        sub: st.sub,
        sid: st.sid,
        createdAt: st.createdAt,
        absExpiresAt: st.absExpiresAt,
        ...d,
      };
    } catch {
      return null; // unknown key id (retired) or tampered: treat as no session
    }
  }

  /** Writes a new session under a fresh id; returns the id (the cookie value). */
  async create(app: string, sub: string, sid: string | undefined, data: SessionData): Promise<string> {
    const id = newSessionId();
    const h = this.hash(id);
    const now = Date.now();
    const absMs = this.opts.absoluteTimeoutS * 1000;
    const value = this.seal(h, { app, sub, sid, createdAt: now, absExpiresAt: now + absMs, ...data });
    const ttl = Math.min(this.opts.idleTimeoutS * 1000, absMs);
    const idx: string[] = [this.idx("sub", app, sub)];
    if (sid) idx.push(this.idx("sid", app, sid));
    if (isCluster(this.redis)) {
      // Index keys live in other hash slots; MULTI can't span slots in Cluster mode.
      await this.redis.set(this.key(h), value, "PX", ttl);
      for (const k of idx) await this.redis.multi().sadd(k, h).pexpire(k, absMs).exec();
      return id;
    }
    const m = this.redis.multi();
    m.set(this.key(h), value, "PX", ttl);
    for (const k of idx) m.sadd(k, h).pexpire(k, absMs);
    const res = await m.exec();
    for (const [err] of res ?? []) if (err) throw err;
    return id;
  }

  /** Loads a session and slides its idle timeout; null when unknown, expired or for another app. */
  async load(app: string, sessionId: string): Promise<Session | null> {
    const h = this.hash(sessionId);
    const idleMs = this.opts.idleTimeoutS * 1000;
    const raw = await this.redis.getex(this.key(h), "PX", idleMs);
    if (!raw) return null;
    const s = this.open(h, raw);
    const now = Date.now();
    if (!s || s.app !== app) return null;
    const left = s.absExpiresAt - now;
    if (left <= 0) {
      await this.remove(s);
      return null;
    }
    if (left < idleMs) await this.redis.pexpire(this.key(h), left);
    return s;
  }

  /** Re-reads a session by hash without touching its TTL (used while waiting for a refresh). */
  async peek(h: string): Promise<Session | null> {
    const raw = await this.redis.get(this.key(h));
    return raw ? this.open(h, raw) : null;
  }

  async remove(s: Pick<Session, "h" | "app" | "sub" | "sid">): Promise<void> {
    await this.redis.del(this.key(s.h));
    await this.redis.srem(this.idx("sub", s.app, s.sub), s.h);
    if (s.sid) await this.redis.srem(this.idx("sid", s.app, s.sid), s.h);
  }

  /** Deletes every session of an app matching the OP session id (or else the subject). */
  async removeBy(app: string, by: { sid?: string; sub?: string }): Promise<number> {
    const k = by.sid ? this.idx("sid", app, by.sid) : by.sub ? this.idx("sub", app, by.sub) : null;
    if (!k) return 0;
    const members = await this.redis.smembers(k);
    let n = 0;
    for (const h of members) {
      const s = await this.peek(h);
      // With sid and sub both given, both must match (OIDC Back-Channel Logout §2.7).
      if (s && by.sub && s.sub !== by.sub) continue;
      if (s) {
        await this.remove(s);
        n++;
      }
      await this.redis.srem(k, h);
    }
    return n;
  }

  // ---- refresh lock (fencing value = random token) ----

  async tryLock(h: string, ttlMs: number): Promise<string | null> {
    const token = randomBytes(16).toString("base64url");
    const ok = await this.redis.set(this.lockKey(h), token, "PX", ttlMs, "NX");
    return ok === "OK" ? token : null;
  }

  async lockHeld(h: string): Promise<boolean> {
    return (await this.redis.exists(this.lockKey(h))) === 1;
  }

  async unlock(h: string, token: string): Promise<void> {
    await this.redis.eval(COMPARE_AND_DELETE, 1, this.lockKey(h), token);
  }

  /** Stores refreshed tokens if `token` still holds the lock: 1 written, 0 session gone, -1 lock lost. */
  async fencedUpdate(s: Session, tokens: TokenSet, token: string): Promise<number> {
    const value = this.seal(s.h, { ...s, tokens });
    return Number(await this.redis.eval(FENCED_WRITE, 2, this.lockKey(s.h), this.key(s.h), token, value));
  }

  /** One-time use marker (back-channel logout `jti` replay check): true the first time within `ttlMs`. */
  async once(name: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(`${this.opts.prefix}once:${sha(name)}`, "1", "PX", ttlMs, "NX")) === "OK";
  }
}

function isCluster(r: RedisClient): boolean {
  return (r as { isCluster?: boolean }).isCluster === true;
}
