// Group sign-ins in Redis: one per browser and app group, the index from it to
// the sessions its apps got, so that a sign-out of one app ends them all and a
// silent sign-in knows the browser has signed in to the group
// (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps).
// Layout (under the configured prefix, `sg:` by default):
//   g:{<gHash>}        the sign-in: {group, sub, sid?, createdAt, silentOff?, noSilent?}, TTL = absolute timeout
//   g:{<gHash>}:m      set of "<app> <idHash>": the sessions of the sign-in, same TTL
//   s:{<idHash>}:g     <gHash>: the sign-in a session belongs to, same TTL
// <gHash> = HMAC-SHA256 of the group cookie's value (the sign-in id), like a session id's.
// One key per command: works the same on a single Redis and on a Cluster.
import { hashSessionId, type KeyRing, newSessionId } from "./crypto.js";
import type { RedisClient } from "./redis.js";

export interface GroupSignIn {
  /** HMAC of the sign-in id: its Redis key part. */
  key: string;
  group: string;
  sub: string;
  /** The provider's session id (ID token `sid`), when it sent one. */
  sid?: string;
  createdAt: number;
  /** The provider said login_required to a silent sign-in: no more silent attempts. */
  silentOff?: boolean;
  /** Apps whose silent sign-in the provider refused otherwise (consent, interaction). */
  noSilent?: string[];
}

export interface GroupMember {
  app: string;
  idHash: string;
}

export class GroupSignIns {
  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { prefix: string; ring: KeyRing; absoluteTimeoutS: number },
  ) {}

  private rec = (key: string) => `${this.opts.prefix}g:{${key}}`;
  private set = (key: string) => `${this.opts.prefix}g:{${key}}:m`;
  private ptr = (idHash: string) => `${this.opts.prefix}s:{${idHash}}:g`;
  private get ttlMs() {
    return this.opts.absoluteTimeoutS * 1000;
  }

  /** A new sign-in; returns its id (the group cookie's value) and record. */
  async create(
    group: string,
    sub: string,
    sid: string | undefined,
  ): Promise<{ id: string; rec: GroupSignIn }> {
    const id = newSessionId();
    const rec: GroupSignIn = {
      key: hashSessionId(this.opts.ring, id),
      group,
      sub,
      sid,
      createdAt: Date.now(),
    };
    await this.redis.set(this.rec(rec.key), JSON.stringify(rec), "PX", this.ttlMs);
    return { id, rec };
  }

  /** The sign-in a group cookie names, if it is live and of this group. */
  async load(group: string, id: string | null): Promise<GroupSignIn | null> {
    if (!id) return null;
    const key = hashSessionId(this.opts.ring, id);
    const raw = await this.redis.get(this.rec(key));
    if (!raw) return null;
    try {
      const rec = JSON.parse(raw) as GroupSignIn;
      return rec.group === group ? { ...rec, key } : null;
    } catch {
      return null;
    }
  }

  /** Keeps the record's TTL. */
  async update(rec: GroupSignIn): Promise<void> {
    await this.redis.set(this.rec(rec.key), JSON.stringify(rec), "KEEPTTL", "XX");
  }

  async addMember(key: string, m: GroupMember): Promise<void> {
    await this.redis.sadd(this.set(key), `${m.app} ${m.idHash}`);
    await this.redis.pexpire(this.set(key), this.ttlMs);
    await this.redis.set(this.ptr(m.idHash), key, "PX", this.ttlMs);
  }

  async removeMember(key: string, m: GroupMember): Promise<void> {
    await this.redis.srem(this.set(key), `${m.app} ${m.idHash}`);
    await this.redis.del(this.ptr(m.idHash));
  }

  async members(key: string): Promise<GroupMember[]> {
    return (await this.redis.smembers(this.set(key))).flatMap((e) => {
      const [app, idHash] = e.split(" ");
      return app && idHash ? [{ app, idHash }] : [];
    });
  }

  /** The sign-in key a session belongs to, or null. */
  async of(idHash: string): Promise<string | null> {
    return this.redis.get(this.ptr(idHash));
  }

  /** Deletes the sign-in and its index; returns the sessions it listed (the caller ends them). */
  async end(key: string): Promise<GroupMember[]> {
    const members = await this.members(key);
    await this.redis.del(this.rec(key));
    await this.redis.del(this.set(key));
    for (const m of members) await this.redis.del(this.ptr(m.idHash));
    return members;
  }
}
