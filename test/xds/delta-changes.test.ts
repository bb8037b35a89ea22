// A Delta stream that holds a type's previous build compares only the names
// the cache says changed (TypeSnapshot.changes, ads/common.ts changedSince).
// Property: over random snapshot sequences (resources added, changed and
// removed, clusters held until the routes settle), it writes exactly what a
// stream comparing every resource writes, response for response. The same
// holds with the real snapshot cache for Delta gateways holding every virtual
// host (eager) and those loading hosts on demand (node metadata `vhds:
// on_demand`: per-node VHDS subscriptions, app clusters only with a held host).
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { DeltaStream, MAX_PENDING } from "../../xds-server/ads/delta.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import type { AppRecord, RegistrySnapshot } from "../../xds-server/registry/types.js";
import {
  type NodeInfo,
  type NodeSnapshot,
  type SnapshotSource,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../../xds-server/resource/types.js";
import { appCluster, GATEWAY_ROUTES } from "../../xds-server/translate/names.js";
import { FakeCall, prng } from "./fake-call.js";
import { FakeSource } from "./fake-source.js";
import { cfg, snap as fixture, jwt, rec } from "./translate-fixture.js";

const TYPES = [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.route];

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
function node(source: FakeSource, acks: string[] = []) {
  const call = new FakeCall<DeltaDiscoveryResponse>();
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
    const withNames = new FakeSource(empty);
    const without = new FakeSource(empty);
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
    const source = new FakeSource(empty);
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

/** A cache whose snapshots say nothing about what changed: its streams compare every resource. */
class FullCompare implements SnapshotSource {
  private readonly copies = new WeakMap<NodeSnapshot, NodeSnapshot>();
  constructor(private readonly cache: SnapshotCache) {}
  snapshotFor(node: NodeInfo): NodeSnapshot {
    const s = this.cache.snapshotFor(node);
    let c = this.copies.get(s);
    if (!c) {
      const types = new Map(
        [...s.types].map(([t, ts]) => [t, { version: ts.version, resources: ts.resources }]),
      );
      c = { ...s, types };
      this.copies.set(s, c);
    }
    return c;
  }
  subscribe(cb: () => void): () => void {
    return this.cache.subscribe(cb);
  }
}

const HOSTS = ["h1.test", "h2.test", "h3.test", "shop.example.com"];

/** A Delta gateway: CDS "*", EDS some app clusters, LDS "*", RDS and VHDS; `vhds` its metadata. */
function gatewayNode(source: SnapshotSource, vhds?: string) {
  const call = new FakeCall<DeltaDiscoveryResponse>();
  new DeltaStream(call as never, source, {}, { warn: () => {} });
  let acked = 0;
  const req = (o: object) => call.emit("data", create(DeltaDiscoveryRequestSchema, o));
  const ackAll = () => {
    while (acked < call.written.length) {
      const r = call.written[acked++];
      req({ typeUrl: r.typeUrl, responseNonce: r.nonce });
    }
  };
  req({
    node: { id: "gw", cluster: "gw", ...(vhds ? { metadata: { vhds } } : {}) },
    typeUrl: TYPE_URLS.cluster,
    resourceNamesSubscribe: ["*"],
  });
  req({
    typeUrl: TYPE_URLS.endpoint,
    resourceNamesSubscribe: ["a1", "a2", "a3", "a5", "a8"].map(appCluster),
  });
  req({ typeUrl: TYPE_URLS.listener, resourceNamesSubscribe: ["*"] });
  req({ typeUrl: TYPE_URLS.route, resourceNamesSubscribe: [GATEWAY_ROUTES] });
  req({ typeUrl: TYPE_URLS.vhds, resourceNamesSubscribe: [GATEWAY_ROUTES] });
  return { call, ackAll, req };
}

const vhdsText = (r: DeltaDiscoveryResponse) =>
  `${text(r)} ${r.resources.map((x) => x.aliases.join(",")).join(" ")}`;

describe("Delta gateways over the real snapshot cache diff by the changed names", () => {
  it.each([
    [1, "eager"],
    [2, "on_demand"],
    [3, "on_demand"],
  ])("write what a full comparison writes (seed %i, vhds %s)", (seed, mode) => {
    const rnd = prng(seed);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
    const changing = new SnapshotCache(cfg, { error: () => {} });
    const full = new SnapshotCache(cfg, { error: () => {} });
    changing.setRegistry(fixture);
    full.setRegistry(fixture);
    const a = gatewayNode(changing, mode);
    const b = gatewayNode(new FullCompare(full), mode);
    let apps: AppRecord[] = [...fixture.apps];
    let revision = fixture.revision;
    let n = 0;
    for (let i = 1; i <= 50; i++) {
      revision++;
      const op = apps.length < 4 ? "add" : pick(["add", "update", "update", "delete"]);
      const id = op === "add" ? `a${++n}` : pick(apps).spec.id;
      apps = apps.filter((x) => x.spec.id !== id);
      if (op !== "delete")
        apps.push(
          rec(
            {
              id,
              hosts: rnd() < 0.1 ? ["*"] : [pick(HOSTS)],
              pathPrefix: `/${id}`,
              upstreams: [`10.1.0.${1 + Math.floor(rnd() * 3)}:80`],
              jwt: jwt("https://op.test", "https://op.test/jwks"),
              ...(rnd() < 0.2
                ? { extAuthz: { target: "127.0.0.1:9100", timeoutMs: 300, failMode: "closed" } }
                : {}),
            },
            revision,
          ),
        );
      apps.sort((x, y) => (x.spec.id < y.spec.id ? -1 : 1));
      const snap: RegistrySnapshot = { revision, apps: [...apps] };
      changing.setRegistry(snap);
      full.setRegistry(snap);
      // Requests for hosts (served, unknown, with a port) and dropped hosts, as Envoy's on_demand filter sends them.
      const x = rnd();
      if (x < 0.35) {
        const names = [`${GATEWAY_ROUTES}/${pick([...HOSTS, "unknown.test", "h1.test:8443"])}`];
        a.req({ typeUrl: TYPE_URLS.vhds, resourceNamesSubscribe: names });
        b.req({ typeUrl: TYPE_URLS.vhds, resourceNamesSubscribe: names });
      } else if (x < 0.42) {
        const names = [`${GATEWAY_ROUTES}/${pick(HOSTS)}`];
        a.req({ typeUrl: TYPE_URLS.vhds, resourceNamesUnsubscribe: names });
        b.req({ typeUrl: TYPE_URLS.vhds, resourceNamesUnsubscribe: names });
      }
      // Sometimes the node is slow: ACKs come after the next change.
      if (rnd() < 0.6) {
        a.ackAll();
        b.ackAll();
      }
    }
    a.ackAll();
    b.ackAll();
    expect(a.call.written.length).toBeGreaterThan(50);
    const vhosts = a.call.written.filter((r) => r.typeUrl === TYPE_URLS.vhds && r.resources.length > 0);
    expect(vhosts.length, "virtual hosts were sent").toBeGreaterThan(3);
    if (mode === "on_demand") {
      // Only clusters of held hosts: never every app's.
      const apps = a.call.written
        .filter((r) => r.typeUrl === TYPE_URLS.cluster)
        .flatMap((r) => r.resources.map((x) => x.name))
        .filter((c) => c.startsWith(appCluster("")));
      expect(apps.length).toBeGreaterThan(0);
    }
    expect(a.call.written.map(vhdsText)).toEqual(b.call.written.map(vhdsText));
  });
});
