// The Redis registry's change log with a real Redis: a replica reads only
// the apps written and the ids deleted since the revision it holds (its
// snapshots carry that change set), and reads everything again whenever the
// log does not cover that span — a write the log missed (a replica of an
// older version writing without it), tombstones trimmed past it — so no app
// is ever missed.
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisStore } from "../../xds-server/registry/redis.js";
import { READ } from "../../xds-server/registry/redis-scripts.js";
import type { RegistrySnapshot } from "../../xds-server/registry/types.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { type RedisHandle, startRedis } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { baseSpec } from "./helpers.js";

let redis: RedisHandle;
let raw: Redis;
const stores: RedisStore[] = [];

async function store(prefix: string, tombstones?: number): Promise<RedisStore> {
  const s = new RedisStore({ url: redis.url, prefix, pollMs: 200, ...(tombstones ? { tombstones } : {}) });
  await s.start();
  stores.push(s);
  return s;
}

const spec = (id: string) => validateApp({ ...(baseSpec(id) as object), hosts: [`${id}.test`] });

/** Every snapshot a store installs, with the change set it came with (ids, or "whole" for a full read). */
function installs(s: RedisStore): { revision: number; ids: string[] | "whole" }[] {
  const out: { revision: number; ids: string[] | "whole" }[] = [];
  s.onChange((snap: RegistrySnapshot) =>
    out.push({ revision: snap.revision, ids: snap.changes ? [...snap.changes.ids].sort() : "whole" }),
  );
  return out;
}

beforeAll(async () => {
  redis = await startRedis();
  raw = new Redis(redis.url);
});
afterAll(async () => {
  for (const s of stores) await s.close();
  raw?.disconnect();
});

describe("RedisStore change log", () => {
  it("a replica reads only what changed since its revision: writes and deletes arrive as change sets", async () => {
    const a = await store("l1:");
    // At revision 0 a replica holds nothing to read from: its first read is whole anyway.
    const seed = spec("seed");
    await a.create(seed.spec, seed.clientSecret);
    const b = await store("l1:");
    const seen = installs(b);
    const x = spec("x");
    const y = spec("y");
    await a.create(x.spec, x.clientSecret);
    await expect.poll(() => b.snapshot().apps.length, { timeout: budget(3000) }).toBe(2);
    await a.applyBatch([
      { op: "create", spec: y.spec, clientSecret: y.clientSecret },
      { op: "delete", id: "x", expectedRevision: 0 },
    ]);
    await expect
      .poll(() => b.snapshot().apps.map((r) => r.spec.id), { timeout: budget(3000) })
      .toEqual(["seed", "y"]);
    const u = await a.update({ ...y.spec, pathPrefix: "/y" }, y.clientSecret, b.snapshot().revision);
    await expect.poll(() => b.snapshot().revision, { timeout: budget(3000) }).toBe(u.revision);
    expect(seen.map((s) => s.ids)).toEqual([["x"], ["x", "y"], ["y"]]);
    expect(b.snapshot().apps[1].spec.pathPrefix).toBe("/y");
    expect(JSON.stringify(b.snapshot())).toBe(JSON.stringify(a.snapshot()));
  });

  it("a write the log does not hold (an older replica's) makes the next read a whole one: nothing is missed", async () => {
    const a = await store("l2:");
    // At revision 0 a replica holds nothing to read from: its first read is whole anyway.
    const seed = spec("seed");
    await a.create(seed.spec, seed.clientSecret);
    const b = await store("l2:");
    const seen = installs(b);
    const x = spec("x");
    await a.create(x.spec, x.clientSecret);
    await expect.poll(() => b.snapshot().apps.length, { timeout: budget(3000) }).toBe(2);
    // What a replica of the previous version writes: the app and the revision, no log.
    const old = spec("old");
    const rev = await raw.incr("l2:rev");
    await raw.hset("l2:apps", "old", JSON.stringify({ spec: old.spec, clientSecret: "s", updatedAt: "t" }));
    await raw.hset("l2:apprev", "old", String(rev));
    await raw.hset("l2:created", "old", "t");
    await raw.publish("l2:changes", String(rev));
    await expect
      .poll(() => b.snapshot().apps.map((r) => r.spec.id), { timeout: budget(3000) })
      .toEqual(["old", "seed", "x"]);
    // And a logged write after it: the log starts over there, so a replica that held
    // the revision before the unlogged one still reads everything.
    const y = spec("y");
    const ry = await a.create(y.spec, y.clientSecret);
    await expect.poll(() => b.snapshot().revision, { timeout: budget(3000) }).toBe(ry.revision);
    expect(seen.map((s) => s.ids)).toEqual([["x"], "whole", ["y"]]);
    const behind = (await raw.eval(READ, 8, ...keys("l2:"), String(rev - 1))) as unknown[];
    expect(behind.length, "read from before the unlogged write: every app").toBe(4);
    const after = (await raw.eval(READ, 8, ...keys("l2:"), String(rev))) as unknown[];
    expect(after.length, "read from the unlogged write on: the log").toBe(5);
  });

  it("tombstones past the kept number: a replica behind them reads every app", async () => {
    const a = await store("l3:", 2);
    const ids = ["d1", "d2", "d3", "keep"];
    for (const id of ids) {
      const s = spec(id);
      await a.create(s.spec, s.clientSecret);
    }
    const start = a.snapshot().revision;
    for (const id of ["d1", "d2", "d3"]) await a.delete(id, 0);
    const fromStart = (await raw.eval(READ, 8, ...keys("l3:"), String(start))) as unknown[];
    expect(fromStart.length, "d1's tombstone was trimmed: every app").toBe(4);
    const fromD1 = (await raw.eval(READ, 8, ...keys("l3:"), String(start + 1))) as [
      string,
      string,
      string[],
      string[],
      string[],
    ];
    expect(fromD1.length).toBe(5);
    expect(fromD1[4].sort()).toEqual(["d2", "d3"]);
    expect(await raw.zcard("l3:gone")).toBe(2);
    // A replica starting now reads everything and agrees.
    const b = await store("l3:", 2);
    expect(b.snapshot().apps.map((r) => r.spec.id)).toEqual(["keep"]);
  });
});

/** READ's keys for a prefix. */
const keys = (p: string) =>
  ["apps", "apprev", "created", "rev", "log", "gone", "logrev", "logfrom"].map((k) => p + k);
