// The in-process session cache (bff/session/cache.ts) across two BFF processes on
// one real Redis, logged in through the real OP: a logout on one replica is seen
// by the other's next token request (invalidation over Redis pub/sub), and a lost
// subscription empties the cache (a message missed meanwhile can leave nothing stale).
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CacheInvalidation, SessionCache, type SessionCacheOptions } from "../../bff/session/cache.js";
import { type Session, SessionStore } from "../../bff/session/store.js";
import {
  type ManagedProcess,
  type OpHandle,
  type RedisHandle,
  startOP,
  startRedis,
  waitFor,
} from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import {
  bffConfig,
  internalToken,
  login,
  metric,
  opClient,
  ports,
  startBffProcess,
  type TestApp,
} from "./helpers.js";

const APP: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const MAX_AGE_MS = 1500;
const KEYRING = {
  active: "k1",
  keys: new Map([["k1", randomBytes(32)]]),
  hashKey: randomBytes(32),
};

let op: OpHandle;
let redis: RedisHandle;
let rc: Redis;
let pubA: string;
let intA: string;
let intB: string;
let adminB: string;
let procs: ManagedProcess[] = [];

const status = async (internalUrl: string, session: string) => {
  const r = await internalToken(internalUrl, APP.id, session);
  await r.arrayBuffer();
  return r.status;
};

/** Waits until B's cache is subscribed, then has it serve `session` from the cache. */
async function cachedOnB(session: string): Promise<void> {
  await waitFor(
    "B's session cache live",
    async () => (await metric(adminB, "sessiongate_bff_session_cache_live")) === 1,
  );
  const hits = await metric(adminB, 'sessiongate_bff_session_cache_lookups_total{result="hit"}');
  expect(await status(intB, session)).toBe(200); // read from Redis, cached
  expect(await status(intB, session)).toBe(200); // from the cache
  expect(await metric(adminB, 'sessiongate_bff_session_cache_lookups_total{result="hit"}')).toBeGreaterThan(
    hits,
  );
}

beforeAll(async () => {
  const [pa, ia, pb, ib, aa, ab] = await ports(6);
  pubA = `http://127.0.0.1:${pa}`;
  intA = `http://127.0.0.1:${ia}`;
  intB = `http://127.0.0.1:${ib}`;
  adminB = `http://127.0.0.1:${ab}`;
  redis = await startRedis();
  rc = new Redis(redis.url);
  op = await startOP({ clients: [opClient(pubA, APP)] });
  const base = { redisUrl: redis.url, issuer: op.issuer, apps: [APP] };
  const extra = { session: { idle_timeout_s: 600, absolute_timeout_s: 3600, cache_max_age_ms: MAX_AGE_MS } };
  const cfgA = bffConfig({ ...base, publicPort: pa, internalPort: ia, adminPort: aa });
  const cfgB = bffConfig({ ...base, publicPort: pa, internalPort: ib, adminPort: ab });
  Object.assign(cfgA, extra);
  Object.assign(cfgB, extra);
  (cfgB.public as { listen: string }).listen = `127.0.0.1:${pb}`;
  procs = await Promise.all([startBffProcess("bff-a", cfgA, intA), startBffProcess("bff-b", cfgB, intB)]);
}, budget(60_000));

afterAll(async () => {
  rc?.disconnect();
  await Promise.all(procs.map((p) => p.stop()));
});

describe("session cache across replicas", () => {
  it("invariant 4: a logout on one BFF process is refused by the other's next token request, which had the session cached", {
    timeout: budget(60_000),
  }, async () => {
    const r = await login(pubA, op, APP.id);
    await cachedOnB(r.session);
    const out = await fetch(`${pubA}/auth/${APP.id}/logout`, {
      method: "POST",
      headers: { cookie: `__Host-sg-${APP.id}=${r.session}`, origin: pubA },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    // No wait: the logout answered after its delete-and-publish, and B's subscriber
    // connection had the message on its way before that answer.
    expect(await status(intB, r.session)).toBe(401);
    expect(await status(intA, r.session)).toBe(401);
  });

  it("a cached entry lives at most cache_max_age_ms: a session deleted behind the BFF's back (no message) is refused after it", {
    timeout: budget(60_000),
  }, async () => {
    const r = await login(pubA, op, APP.id);
    await cachedOnB(r.session);
    // Nobody publishes this delete (every BFF writer does): only the entry's age ends it.
    for (const k of await rc.keys("sg:s:{*}")) await rc.del(k);
    expect(await status(intA, r.session)).toBe(401);
    await waitFor("B refusing the deleted session", async () => (await status(intB, r.session)) === 401);
  });

  it("a lost invalidation subscription empties the cache: a session deleted while it was down is not served", {
    timeout: budget(60_000),
  }, async () => {
    const r = await login(pubA, op, APP.id);
    await cachedOnB(r.session);
    const drops = await metric(adminB, "sessiongate_bff_session_cache_drops_total");
    // Cut every subscriber connection; a delete meanwhile publishes to nobody.
    await rc.client("KILL", "TYPE", "pubsub");
    await waitFor(
      "B's subscription lost",
      async () => (await metric(adminB, "sessiongate_bff_session_cache_drops_total")) > drops,
    );
    for (const k of await rc.keys("sg:s:{*}")) await rc.del(k);
    expect(await status(intB, r.session)).toBe(401);
    // And B resubscribes by itself.
    await waitFor(
      "B resubscribed",
      async () => (await metric(adminB, "sessiongate_bff_session_cache_live")) === 1,
    );
  });
});

describe("SessionCache (the fill/invalidate races and bounds)", () => {
  const session = (idHash: string, absExpiresAt = Date.now() + 3_600_000): Session => ({
    idHash,
    app: "web",
    sub: "alice",
    createdAt: Date.now(),
    absExpiresAt,
    tokens: { accessToken: "at", expiresAt: Date.now() + 60_000 },
    user: {},
  });
  const live = (o: Partial<SessionCacheOptions> = {}) => {
    const c = new SessionCache({ maxEntries: 3, maxAgeMs: 1000, ...o });
    c.setLive(true);
    return c;
  };

  it("a read that raced an invalidation of its session (or a flush) is not cached", () => {
    const c = live();
    const t = c.ticket();
    c.invalidate("h1"); // the delete's message arrived before the read's answer
    c.fill(session("h1"), t);
    expect(c.get("h1")).toBeNull();
    c.fill(session("h2"), t); // another session is not affected
    expect(c.get("h2")).not.toBeNull();
    const t2 = c.ticket();
    c.setLive(false);
    c.setLive(true);
    c.fill(session("h3"), t2);
    expect(c.get("h3")).toBeNull();
  });

  it("not live (unsubscribed): nothing is served or filled", () => {
    const c = new SessionCache({ maxEntries: 3, maxAgeMs: 1000 });
    c.fill(session("h1"), c.ticket());
    expect(c.get("h1")).toBeNull();
    const l = live();
    l.fill(session("h1"), l.ticket());
    l.setLive(false);
    expect(l.get("h1")).toBeNull();
  });

  it("bounded: max entries (oldest out), max age, the absolute timeout", () => {
    const c = live();
    const now = Date.now();
    for (const h of ["a", "b", "c", "d"]) c.fill(session(h), c.ticket(), now);
    expect(c.size).toBe(3);
    expect(c.get("a", now)).toBeNull();
    expect(c.get("d", now)).not.toBeNull();
    expect(c.get("d", now + 1000)).toBeNull();
    c.fill(session("e", now + 10), c.ticket(), now);
    expect(c.get("e", now + 10)).toBeNull();
  });
});

describe("one Redis command per session load", () => {
  const calls = async () => {
    const m = new Map<string, number>();
    for (const l of (await rc.info("commandstats")).split("\n")) {
      const r = /^cmdstat_([^:]+):calls=(\d+)/.exec(l);
      if (r) m.set(r[1], Number(r[2]));
    }
    return m;
  };

  it("a session in the last idle period of its absolute life: its re-read caps the slid TTL in the GETEX itself once the cache knows its absolute expiry", {
    timeout: budget(30_000),
  }, async () => {
    const client = new Redis(redis.url);
    const cache = new SessionCache({ maxEntries: 10, maxAgeMs: 50 });
    const inval = new CacheInvalidation(client, cache, "t:s:invalidate", () => undefined);
    try {
      // idle = absolute: every load must cap the slid TTL at the absolute expiry.
      const store = new SessionStore(
        client,
        { prefix: "t:", ring: KEYRING, idleTimeoutS: 600, absoluteTimeoutS: 600 },
        cache,
      );
      await waitFor("the test cache live", async () => cache.isLive);
      const id = await store.create("web", "alice", undefined, {
        tokens: { accessToken: "at", expiresAt: Date.now() + 60_000 },
        user: {},
      });
      const c0 = await calls();
      expect(await store.load("web", id)).not.toBeNull(); // absolute expiry not known yet: GETEX + PEXPIRE
      const c1 = await calls();
      await waitFor("the entry too old to serve", async () => cache.get(store.hash(id)) === null);
      expect(await store.load("web", id)).not.toBeNull(); // re-read: GETEX with the capped TTL only
      const c2 = await calls();
      const d = (a: Map<string, number>, b: Map<string, number>, k: string) =>
        (b.get(k) ?? 0) - (a.get(k) ?? 0);
      expect([d(c0, c1, "getex"), d(c0, c1, "pexpire")]).toEqual([1, 1]);
      expect([d(c1, c2, "getex"), d(c1, c2, "pexpire")]).toEqual([1, 0]);
      const ttl = await client.pttl(`t:s:{${store.hash(id)}}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(600_000);
    } finally {
      inval.close();
      client.disconnect();
    }
  });
});
