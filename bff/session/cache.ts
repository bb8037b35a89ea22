// In-process cache of opened sessions (docs/architecture.md#session-cache): the
// filter's cache misses then cost no Redis round trip, no AES-GCM and no JSON.
// Every writer of a session (logout, back-channel logout, group sign-out, refresh,
// expiry at the absolute timeout) invalidates the entry in its own process at once
// and publishes the session's hash on a Redis channel; every replica drops the
// entry when the message arrives. Fail safe: while the subscription is not live
// (connecting, reconnecting, down) the cache is empty and not filled, so a
// message missed then can never leave a stale entry. Entries live at most
// `maxAgeMs` (capped at a tenth of the idle timeout, so an entry never outlives
// its Redis key and a session in use slides its idle timeout often enough), and at most `maxEntries` are kept.
import type { RedisClient } from "./redis.js";
import type { Session } from "./store.js";

export interface SessionCacheOptions {
  maxEntries: number;
  maxAgeMs: number;
  /** Told every lookup's answer (a metric). */
  onLookup?: (hit: boolean) => void;
  /** Told when the cache turns live (subscribed) or not. */
  onLive?: (live: boolean) => void;
}

interface Entry {
  s: Session;
  at: number;
}

/** How many recent invalidations are remembered to refuse a fill that raced one. */
const RECENT_MAX = 4096;

export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every invalidation and flush: a fill started before a later one of its hash is refused. */
  private seq = 0;
  /** Fills that started before this sequence number are refused (after a flush). */
  private floor = 0;
  /** idHash -> the sequence number of its last invalidation. */
  private readonly recent = new Map<string, number>();
  private live = false;

  constructor(private readonly opts: SessionCacheOptions) {}

  get size(): number {
    return this.entries.size;
  }

  /** Whether the invalidation channel is subscribed (the cache is used only then). */
  get isLive(): boolean {
    return this.live;
  }

  get(idHash: string, now = Date.now()): Session | null {
    const s = this.lookup(idHash, now);
    this.opts.onLookup?.(s !== null);
    return s;
  }

  private lookup(idHash: string, now: number): Session | null {
    if (!this.live) return null;
    const e = this.entries.get(idHash);
    if (!e) return null;
    if (e.s.absExpiresAt <= now) {
      this.entries.delete(idHash);
      return null;
    }
    // Too old to serve, but kept (until replaced, invalidated or pushed out) for absExpiry.
    return now - e.at < this.opts.maxAgeMs ? e.s : null;
  }

  /**
   * The absolute expiry of a session cached before, even one too old to serve
   * (it never changes for a session id): lets the re-read cap the slid idle
   * timeout in the same command. undefined when not known.
   */
  absExpiry(idHash: string): number | undefined {
    return this.live ? this.entries.get(idHash)?.s.absExpiresAt : undefined;
  }

  /** Taken before reading a session from Redis; hand it to `fill`. */
  ticket(): number {
    return this.seq;
  }

  /** Caches a session read from Redis, unless it was invalidated (or the cache flushed) since `ticket`. */
  fill(s: Session, ticket: number, now = Date.now()): void {
    if (!this.live || ticket < this.floor || (this.recent.get(s.idHash) ?? -1) >= ticket) return;
    if (this.entries.size >= this.opts.maxEntries && !this.entries.has(s.idHash)) {
      // Oldest first (Map keeps insertion order).
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(s.idHash, { s, at: now });
  }

  invalidate(idHash: string): void {
    this.entries.delete(idHash);
    this.recent.set(idHash, this.seq++);
    if (this.recent.size > RECENT_MAX) {
      this.recent.clear();
      this.floor = this.seq;
    }
  }

  /** Drops everything and refuses fills started before now. */
  flush(): void {
    this.entries.clear();
    this.recent.clear();
    this.seq++;
    this.floor = this.seq;
  }

  setLive(live: boolean): void {
    this.flush();
    if (this.live !== live) this.opts.onLive?.(live);
    this.live = live;
  }
}

/**
 * Follows the invalidation channel on a connection of its own (a subscribed
 * connection can run no other command). The cache is live only between a
 * confirmed SUBSCRIBE and the next sign of trouble on that connection.
 */
export class CacheInvalidation {
  private readonly sub: RedisClient;
  private closed = false;

  constructor(
    redis: RedisClient,
    private readonly cache: SessionCache,
    readonly channel: string,
    private readonly onError: (err: Error) => void,
  ) {
    this.sub = redis.duplicate();
    this.sub.on("error", (err: Error) => onError(err));
    this.sub.on("message", (ch: string, idHash: string) => {
      if (ch === channel) cache.invalidate(idHash);
    });
    // Any loss of the connection (an error that costs it ends in "close" too).
    const down = () => cache.setLive(false);
    for (const ev of ["close", "end", "reconnecting"]) this.sub.on(ev, down);
    this.sub.on("ready", () => void this.subscribe());
  }

  private async subscribe(): Promise<void> {
    try {
      await this.sub.subscribe(this.channel);
      // Still the same healthy connection: from here on every invalidation reaches us.
      if (!this.closed && this.sub.status === "ready") this.cache.setLive(true);
    } catch (err) {
      this.cache.setLive(false);
      this.onError(err as Error);
    }
  }

  close(): void {
    this.closed = true;
    this.cache.setLive(false);
    this.sub.disconnect();
  }
}
