// A Delta stream that holds a type's previous build compares only the names
// the cache says changed (TypeSnapshot.changes, ads/common.ts changedSince).
// Property: over random snapshot sequences (resources added, changed and
// removed, clusters held until the routes settle), it writes exactly what a
// stream comparing every resource writes, response for response.
import { EventEmitter } from "node:events";
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { DeltaStream, MAX_PENDING } from "../../xds-server/ads/delta.js";
import {
  type NodeSnapshot,
  type SnapshotSource,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../../xds-server/resource/types.js";

const TYPES = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.route];

class FakeCall extends EventEmitter {
  readonly written: DeltaDiscoveryResponse[] = [];
  write(res: DeltaDiscoveryResponse): boolean {
    this.written.push(res);
    return true;
  }
  end(): void {}
}

class Source implements SnapshotSource {
  private readonly subs = new Set<() => void>();
  constructor(public snap: NodeSnapshot) {}
  snapshotFor(): NodeSnapshot {
    return this.snap;
  }
  subscribe(cb: () => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }
  set(next: NodeSnapshot): void {
    this.snap = next;
    for (const cb of this.subs) cb();
  }
}

function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Names whose version differs between two maps, or that only one has (what the cache records). */
function changedNames(prev: Map<string, VersionedResource>, next: Map<string, VersionedResource>) {
  const names = new Set<string>();
  for (const [n, r] of next) if (prev.get(n)?.version !== r.version) names.add(n);
  for (const n of prev.keys()) if (!next.has(n)) names.add(n);
  return names;
}

const resource = (t: string, name: string, version: string): VersionedResource => ({
  name,
  version,
  apps: [],
  any: create(AnySchema, { typeUrl: t, value: new TextEncoder().encode(`${name}@${version}`) }),
});

/** The next snapshot: each type's map changed at random; `withChanges` says which names moved. */
function step(prev: NodeSnapshot, rnd: () => number, n: number, withChanges: boolean): NodeSnapshot {
  const types = new Map<string, TypeSnapshot>();
  for (const t of TYPES) {
    const before = prev.types.get(t)!;
    const map = new Map(before.resources);
    for (let k = 0; k < 3; k++) {
      const name = `${t.split(".").at(-1)}-${Math.floor(rnd() * 12)}`;
      const x = rnd();
      if (x < 0.3) map.delete(name);
      else if (x < 0.9 || !map.has(name)) map.set(name, resource(t, name, `v${n}-${k}`));
    }
    const version = [...map.values()].map((r) => `${r.name}@${r.version}`).join(",");
    types.set(t, {
      version,
      resources: map,
      ...(withChanges ? { changes: { from: before, names: changedNames(before.resources, map) } } : {}),
    });
  }
  return { revision: n, appRevisions: new Map(), types };
}

/** A node on a Delta stream: subscribes CDS "*", EDS to some names, RDS "*"; ACKs every response. */
function node(source: Source, acks: string[] = []) {
  const call = new FakeCall();
  new DeltaStream(call as never, source, { onAck: (e) => acks.push(e.typeUrl) }, { warn: () => {} });
  let acked = 0;
  const ackAll = () => {
    while (acked < call.written.length) {
      const r = call.written[acked++];
      call.emit("data", create(DeltaDiscoveryRequestSchema, { typeUrl: r.typeUrl, responseNonce: r.nonce }));
    }
  };
  const req = (o: object) => call.emit("data", create(DeltaDiscoveryRequestSchema, o));
  req({ node: { id: "n", cluster: "c" }, typeUrl: TYPE_URLS.cluster, resourceNamesSubscribe: ["*"] });
  req({
    typeUrl: TYPE_URLS.endpoint,
    resourceNamesSubscribe: ["ClusterLoadAssignment-1", "ClusterLoadAssignment-2", "ClusterLoadAssignment-5"],
  });
  req({ typeUrl: TYPE_URLS.route, resourceNamesSubscribe: ["*"] });
  return { call, ackAll };
}

const text = (r: DeltaDiscoveryResponse) =>
  `${r.typeUrl.split(".").at(-1)} ${[...r.resources.map((x) => `+${x.name}@${x.version}`), ...r.removedResources.map((n) => `-${n}`)].sort().join(" ")}`;

describe("Delta streams diff by the changed names", () => {
  it.each([1, 2, 3, 4])("write what a full comparison writes (seed %i)", (seed) => {
    const empty: NodeSnapshot = {
      revision: 0,
      appRevisions: new Map(),
      types: new Map(TYPES.map((t) => [t, { version: "", resources: new Map() }])),
    };
    const rnd = prng(seed);
    const rnd2 = prng(seed);
    const withNames = new Source(empty);
    const without = new Source(empty);
    const a = node(withNames);
    const b = node(without);
    let used = 0;
    for (let n = 1; n <= 40; n++) {
      withNames.set(step(withNames.snap, rnd, n, true));
      without.set(step(without.snap, rnd2, n, false));
      // Sometimes the node is slow: ACKs come after the next change.
      if (rnd() < 0.6) {
        a.ackAll();
        b.ackAll();
      }
      rnd2();
      used++;
    }
    a.ackAll();
    b.ackAll();
    expect(used).toBe(40);
    expect(a.call.written.length).toBeGreaterThan(40);
    expect(a.call.written.map(text)).toEqual(b.call.written.map(text));
  });

  it("a node that stops ACKing does not make the stream keep every snapshot: the newest responses stay attributed", () => {
    const empty: NodeSnapshot = {
      revision: 0,
      appRevisions: new Map(),
      types: new Map(TYPES.map((t) => [t, { version: "", resources: new Map() }])),
    };
    const rnd = prng(9);
    const source = new Source(empty);
    const acks: string[] = [];
    const n = node(source, acks);
    for (let i = 1; i <= 100; i++) source.set(step(source.snap, rnd, i, true));
    const sent = n.call.written.filter((r) => r.typeUrl === TYPE_URLS.cluster).length;
    expect(sent).toBeGreaterThan(MAX_PENDING * 2);
    n.ackAll(); // every nonce, oldest first: only the newest MAX_PENDING are still known
    // (plus what the ACKs themselves set off: the removal of clusters held until the routes settled)
    const later = n.call.written.filter((r) => r.typeUrl === TYPE_URLS.cluster).length - sent;
    expect(later).toBeLessThanOrEqual(1);
    expect(acks.filter((t) => t === TYPE_URLS.cluster).length).toBe(MAX_PENDING + later);
  });
});
