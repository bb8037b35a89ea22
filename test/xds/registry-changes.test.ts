// The registry's change sets (RegistrySnapshot.changes) and what reads them
// at the cost of a change rather than of the registry: the in-memory store's
// snapshots say exactly which apps a write touched; a reader that missed a
// step (its snapshot is not the one a change set starts from) compares every
// app instead, so no app is ever missed; the patched app list equals a sorted
// rebuild; a snapshot type's resources shared between builds (OverlayMap)
// read exactly like a copied Map and never change once built.
import { describe, expect, it } from "vitest";
import { OverlayMap } from "../../xds-server/cache/overlay-map.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import { MemoryStore } from "../../xds-server/registry/memory.js";
import {
  diff,
  EMPTY,
  findApp,
  patchApps,
  SnapshotHolder,
  sortApps,
} from "../../xds-server/registry/store.js";
import type { AppRecord, ChangeEvent, RegistrySnapshot } from "../../xds-server/registry/types.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { TYPE_URLS } from "../../xds-server/resource/types.js";
import { appCluster } from "../../xds-server/translate/names.js";
import { prng } from "./fake-call.js";
import { baseSpec } from "./helpers.js";
import { cfg } from "./translate-fixture.js";

const spec = (id: string) => validateApp({ ...(baseSpec(id) as object), hosts: [`${id}.test`] });

/** mulberry32: a small seeded PRNG, so a failure replays. */
const record = (id: string, revision: number): AppRecord => {
  const s = spec(id);
  return { spec: s.spec, clientSecret: s.clientSecret, revision, createdAt: "t", updatedAt: "t" };
};

describe("registry change sets", () => {
  it("the in-memory store's snapshots name exactly the apps each write touched, from the snapshot before", async () => {
    const store = new MemoryStore("/auth");
    await store.start();
    const seen: {
      snap: RegistrySnapshot;
      prev: RegistrySnapshot;
      events: ChangeEvent[];
      from?: RegistrySnapshot;
      ids: string[];
    }[] = [];
    let prev = store.snapshot();
    store.onChange((snap, events) => {
      seen.push({ snap, prev, events, from: snap.changes?.from, ids: [...(snap.changes?.ids ?? [])].sort() });
      prev = snap;
    });
    const a = spec("a");
    const b = spec("b");
    const c = spec("c");
    await store.create(b.spec, b.clientSecret);
    const rb = await store.update(b.spec, b.clientSecret, 1);
    await store.applyBatches([
      [
        { op: "create", spec: a.spec, clientSecret: a.clientSecret },
        { op: "create", spec: c.spec, clientSecret: c.clientSecret },
      ],
      [{ op: "delete", id: "b", expectedRevision: rb.revision }],
    ]);
    // A refused write changes nothing and says nothing.
    await expect(store.create(a.spec, a.clientSecret)).rejects.toThrow(/already exists/);
    expect(seen.map((s) => s.ids)).toEqual([["b"], ["b"], ["a", "b", "c"]]);
    for (const { snap, prev: before, events, from } of seen) {
      expect(from).toBe(before);
      // The list stays sorted by id, and the events are what comparing every app gives.
      expect(snap.apps.map((x) => x.spec.id)).toEqual(sortApps(snap.apps).map((x) => x.spec.id));
      const whole = diff(before, { revision: snap.revision, apps: snap.apps });
      expect(events).toEqual(whole);
    }
    expect(seen.at(-1)!.events.map((e) => `${e.type}:${e.id}`)).toEqual(["ADDED:a", "ADDED:c", "DELETED:b"]);
    // Only the latest step is kept: no snapshot keeps its predecessors alive.
    expect(seen[0].snap.changes).toBeUndefined();
    expect(seen.at(-1)!.snap.changes).toBeDefined();
    expect(findApp(store.snapshot().apps, "c")?.spec.id).toBe("c");
    expect(findApp(store.snapshot().apps, "b")).toBeUndefined();
  });

  it("a reader that missed a step compares every app: an app written in the missed step is not lost", () => {
    const holder = new SnapshotHolder();
    const got: ChangeEvent[][] = [];
    holder.onChange((_s, events) => got.push(events));
    const s1: RegistrySnapshot = { revision: 1, apps: [record("a", 1)] };
    holder.offer(s1);
    // s2 (adds "b") never reached this holder; s3 says only "c" changed, since s2.
    const s2: RegistrySnapshot = { revision: 2, apps: [record("a", 1), record("b", 2)] };
    const s3: RegistrySnapshot = {
      revision: 3,
      apps: [record("a", 1), record("b", 2), record("c", 3)],
      changes: { from: s2, ids: new Set(["c"]) },
    };
    holder.offer(s3);
    expect(got.at(-1)!.map((e) => `${e.type}:${e.id}`)).toEqual(["ADDED:b", "ADDED:c"]);
    // A change set that does not start at the holder's snapshot is not passed on as if it did.
    expect(holder.get().changes).toBeUndefined();

    // The snapshot cache likewise: a step it missed makes the gateway build compare every app.
    const cache = new SnapshotCache(cfg, { error: () => {} });
    const role = { kind: "gateway" as const, address: "0.0.0.0", port: 10000, vhds: true as const };
    cache.setRegistry(s1);
    cache.forRole(role);
    cache.setRegistry(s3);
    const clusters = cache.forRole(role).types.get(TYPE_URLS.cluster)!.resources;
    for (const id of ["a", "b", "c"]) expect(clusters.has(appCluster(id)), id).toBe(true);
    // And a step it saw is followed by its ids alone (the next build, from s3).
    const s4: RegistrySnapshot = {
      revision: 4,
      apps: [record("a", 1), record("c", 3)],
      changes: { from: s3, ids: new Set(["b"]) },
    };
    cache.setRegistry(s4);
    const after = cache.forRole(role).types.get(TYPE_URLS.cluster)!;
    expect(after.resources.has(appCluster("b"))).toBe(false);
    expect([...after.changes!.names]).toEqual([appCluster("b")]);
  });

  it("patchApps equals a sorted rebuild, for single writes (spliced) and bulk ones (merged)", () => {
    const rnd = prng(7);
    let apps: AppRecord[] = [];
    let model = new Map<string, AppRecord>();
    for (let step = 1; step <= 300; step++) {
      const bulk = rnd() < 0.1;
      const k = bulk ? 1 + Math.floor(rnd() * 40) : 1;
      const written: AppRecord[] = [];
      const deleted: string[] = [];
      for (let i = 0; i < k; i++) {
        const id = `app-${Math.floor(rnd() * 200)}`;
        if (rnd() < 0.3) deleted.push(id);
        else written.push({ ...(model.get(id) ?? record(id, step)), revision: step });
      }
      // A write after a delete of the same id in one call: the write wins (stores never send both).
      const w = new Set(written.map((a) => a.spec.id));
      const gone = deleted.filter((id) => !w.has(id));
      const next = patchApps(apps, written, gone);
      model = new Map(model);
      for (const id of gone) model.delete(id);
      for (const a of written) model.set(a.spec.id, a);
      expect(next).toEqual(sortApps([...model.values()]));
      expect(apps).not.toBe(next);
      apps = next;
    }
    expect(apps.length).toBeGreaterThan(50);
    expect(findApp(EMPTY.apps, "x")).toBeUndefined();
  });
});

describe("OverlayMap (a snapshot type's resources, shared between builds)", () => {
  it("reads exactly like a copied Map through random patches and folds; earlier versions never change", () => {
    const rnd = prng(3);
    let m: Map<string, number> = new Map(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    let model = new Map(m);
    const versions: [Map<string, number>, Map<string, number>][] = [];
    let overlays = 0;
    for (let step = 0; step < 400; step++) {
      const set: [string, number][] = [];
      const del: string[] = [];
      for (let i = Math.floor(rnd() * 4); i >= 0; i--) {
        const k = `k${Math.floor(rnd() * 700)}`;
        if (rnd() < 0.3) del.push(k);
        else set.push([k, Math.floor(rnd() * 3)]);
      }
      m = OverlayMap.patch(m, set, del);
      if (m instanceof OverlayMap) overlays++;
      model = new Map(model);
      for (const k of del) model.delete(k);
      for (const [k, v] of set) model.set(k, v);
      versions.push([m, model]);
    }
    expect(overlays, "most steps share the previous map").toBeGreaterThan(300);
    expect(overlays, "and some fold it into a new one").toBeLessThan(400);
    for (const [got, want] of versions) {
      expect(got.size).toBe(want.size);
      expect(new Map(got)).toEqual(want);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      expect([...got.values()].length).toBe(want.size);
      const wrong: string[] = [];
      for (let i = 0; i < 700; i++) {
        const k = `k${i}`;
        if (got.get(k) !== want.get(k) || got.has(k) !== want.has(k)) wrong.push(k);
      }
      expect(wrong).toEqual([]);
      const each: [string, number][] = [];
      got.forEach((v, k) => {
        each.push([k, v]);
      });
      expect(new Map(each)).toEqual(want);
      if (got instanceof OverlayMap) {
        expect(() => got.set("x", 1)).toThrow(/immutable/);
        expect(() => got.delete("k1")).toThrow(/immutable/);
        expect(() => got.clear()).toThrow(/immutable/);
      }
    }
  });
});
