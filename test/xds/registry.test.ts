// The Redis registry with a real Redis: atomic conflict checks under
// concurrency, a monotonically increasing revision, replicas converging
// through the change feed, a restart losing nothing, and a clear error (and no
// change) while Redis is down.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../xds-server/registry/redis.js";
import type { RegistryError } from "../../xds-server/registry/types.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { type RedisHandle, startRedis } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { baseSpec } from "./helpers.js";

let redis: RedisHandle;
const stores: RedisStore[] = [];

async function store(): Promise<RedisStore> {
  const s = new RedisStore({ url: redis.url, prefix: "t:", pollMs: 200 });
  await s.start();
  stores.push(s);
  return s;
}

const spec = (id: string, host = `${id}.test`) => validateApp({ ...(baseSpec(id) as object), hosts: [host] });

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const s of stores) await s.close();
});

describe("RedisStore", () => {
  it("concurrent creates of one host+prefix: exactly one wins, revisions strictly increase", async () => {
    const a = await store();
    const b = await store();
    const tries = Array.from({ length: 10 }, (_, i) => {
      const s = spec(`race${i}`, "race.test");
      return (i % 2 ? a : b).create(s.spec, s.clientSecret).then(
        (r) => r.revision,
        (e: RegistryError) => e.kind,
      );
    });
    const out = await Promise.all(tries);
    expect(out.filter((x) => typeof x === "number")).toHaveLength(1);
    expect(out.filter((x) => x === "FAILED_PRECONDITION")).toHaveLength(9);
    const revs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = spec(`seq${i}`);
      revs.push((await a.create(s.spec, s.clientSecret)).revision);
    }
    expect(revs).toEqual([...revs].sort((x, y) => x - y));
    expect(new Set(revs).size).toBe(5);
  });

  it("replicas converge through the change feed; events say what changed", async () => {
    const a = await store();
    const b = await store();
    const seen: string[] = [];
    b.onChange((_s, evs) => seen.push(...evs.map((e) => `${e.type}:${e.id}`)));
    const s = spec("conv");
    const rec = await a.create(s.spec, s.clientSecret);
    await expect.poll(() => b.snapshot().revision, { timeout: budget(3000) }).toBe(rec.revision);
    const upd = await a.update(
      { ...s.spec, upstreams: [{ host: "127.0.0.1", port: 1 }] },
      s.clientSecret,
      rec.revision,
    );
    // Events are diffs between the snapshots a replica loads: wait for B to load the
    // update, or an update and a delete landing together show only as DELETED.
    await expect.poll(() => b.snapshot().revision, { timeout: budget(3000) }).toBe(upd.revision);
    await a.delete("conv", 0);
    await expect
      .poll(() => seen.filter((x) => x.endsWith(":conv")), { timeout: budget(3000) })
      .toEqual(["ADDED:conv", "MODIFIED:conv", "DELETED:conv"]);
    expect(b.snapshot().apps.map((x) => x.spec.id)).toEqual(a.snapshot().apps.map((x) => x.spec.id));
  });

  it("update at a stale revision and a host collision change nothing", async () => {
    const a = await store();
    const s1 = spec("keep1");
    const s2 = spec("keep2");
    const r1 = await a.create(s1.spec, s1.clientSecret);
    await a.create(s2.spec, s2.clientSecret);
    const before = JSON.stringify(a.snapshot());
    await expect(a.update({ ...s1.spec, pathPrefix: "/x" }, "s", r1.revision - 1)).rejects.toMatchObject({
      kind: "FAILED_PRECONDITION",
    });
    await expect(a.update({ ...s1.spec, hosts: ["keep2.test"] }, "s", r1.revision)).rejects.toMatchObject({
      kind: "FAILED_PRECONDITION",
    });
    await expect(a.create(s1.spec, s1.clientSecret)).rejects.toMatchObject({ kind: "ALREADY_EXISTS" });
    const fresh = await store();
    expect(JSON.stringify(fresh.snapshot())).toBe(before);
    // The freed host+prefix after a host change is claimable again (no stale index entry).
    const moved = await a.update({ ...s1.spec, hosts: ["moved.test"] }, s1.clientSecret, r1.revision);
    expect(moved.spec.hosts).toEqual(["moved.test"]);
    const s3 = spec("keep3", "keep1.test");
    await expect(a.create(s3.spec, s3.clientSecret)).resolves.toMatchObject({ spec: { id: "keep3" } });
  });

  it("Redis down: writes fail UNAVAILABLE; back up: the store recovers by itself", async () => {
    const a = await store();
    const before = a.snapshot();
    await redis.kill();
    const s = spec("during-outage");
    await expect(a.create(s.spec, s.clientSecret)).rejects.toMatchObject({ kind: "UNAVAILABLE" });
    await redis.restart();
    // The harness Redis has no persistence: it comes back empty. The store must
    // recover by itself and follow Redis (not keep serving a registry that is gone).
    await expect
      .poll(
        async () => {
          try {
            await a.create(s.spec, s.clientSecret);
            return true;
          } catch {
            return false;
          }
        },
        { timeout: budget(10_000) },
      )
      .toBe(true);
    expect(a.snapshot().apps.map((x) => x.spec.id)).toEqual(["during-outage"]);
    expect(before.apps.length).toBeGreaterThan(1);
  });
});
