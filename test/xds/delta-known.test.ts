// What a Delta stream keeps per type (ads/known.ts): a reference to the
// snapshot's own resource map plus the names where the node differs from it,
// re-expressed against each new build by the build's change set, or in full
// when the stream is not at the build the change set starts from. Property:
// a node applying every response it was sent (ACKed or not: a NACKed version
// is not re-sent until it changes) holds exactly what it subscribed to, over
// random builds, skipped builds, NACKs, reconnects and subscription changes;
// and the per-stream state of a node in step with the snapshot is O(1).
// Also: every part of an answer larger than MAX_PENDING parts is ACKed and
// attributed (pending entries are made when a part is written).
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { MAX_RESOURCES_PER_RESPONSE } from "../../xds-server/ads/common.js";
import { DeltaStream, MAX_PENDING } from "../../xds-server/ads/delta.js";
import { KnownVersions } from "../../xds-server/ads/known.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import {
  type AckNack,
  type NodeSnapshot,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../../xds-server/resource/types.js";
import { appCluster, GATEWAY_ROUTES } from "../../xds-server/translate/names.js";
import { FakeCall, prng } from "./fake-call.js";
import { FakeSource } from "./fake-source.js";
import { cfg, jwt, rec } from "./translate-fixture.js";

const CDS = TYPE_URLS.cluster;
const EDS = TYPE_URLS.endpoint;
const RDS = TYPE_URLS.route;
const log = { warn: () => {} };

const resource = (t: string, name: string, version: string): VersionedResource => ({
  name,
  version,
  apps: [],
  any: create(AnySchema, { typeUrl: t, value: new TextEncoder().encode(`${name}@${version}`) }),
});

/**
 * The next build of a type: `prev` with `edits` (name -> version, null: removed),
 * and, like the cache, the names that changed since `prev`.
 */
function build(
  t: string,
  prev: TypeSnapshot | undefined,
  edits: Record<string, string | null>,
  withChanges = true,
): TypeSnapshot {
  const map = new Map(prev?.resources);
  const names = new Set<string>();
  for (const [n, v] of Object.entries(edits)) {
    if (v === null) {
      if (map.delete(n)) names.add(n);
    } else if (map.get(n)?.version !== v) {
      map.set(n, resource(t, n, v));
      names.add(n);
    }
  }
  let version = 0;
  for (const r of map.values()) version = (version * 31 + r.name.length + r.version.length) >>> 0;
  return {
    version: `${map.size}-${version}-${Math.random()}`,
    resources: map,
    ...(prev && withChanges ? { changes: { from: prev, names } } : {}),
  };
}

function snapshotOf(types: Map<string, TypeSnapshot>, revision = 1): NodeSnapshot {
  return { revision, appRevisions: new Map(), types };
}

/** `count` resources `<prefix><i>` at `version`. */
const many = (prefix: string, count: number, version: string) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, version]));

/** The fields of a DeltaDiscoveryRequest the tests send. */
interface Req {
  typeUrl: string;
  resourceNamesSubscribe?: string[];
  resourceNamesUnsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
  responseNonce?: string;
  errorDetail?: { message: string };
}

/**
 * A node: what it was sent, applied per type (`sent`: every response, as the
 * stream counts what it sent; NACKed ones included), its ACKs and NACKs.
 */
function open(
  source: FakeSource | SnapshotCache,
  metadata: Record<string, string> = {},
  sent = new Map<string, Map<string, string>>(),
) {
  const call = new FakeCall<DeltaDiscoveryResponse>();
  const acks: AckNack[] = [];
  const nacks: AckNack[] = [];
  const stream = new DeltaStream(
    call as never,
    source,
    { onAck: (e) => acks.push(e), onNack: (e) => nacks.push(e) },
    log,
  );
  let first = true;
  let read = 0;
  /** Per type: "*" or the names subscribed to. */
  const subs = new Map<string, Set<string>>();
  const req = (o: Req) => {
    const sub = subs.get(o.typeUrl) ?? new Set<string>();
    subs.set(o.typeUrl, sub);
    for (const n of o.resourceNamesSubscribe ?? []) sub.add(n);
    // Delta: the node drops what it unsubscribes from itself (the server sends no removal).
    for (const n of o.resourceNamesUnsubscribe ?? []) {
      sub.delete(n);
      sent.get(o.typeUrl)?.delete(n);
    }
    call.emit(
      "data",
      create(DeltaDiscoveryRequestSchema, {
        ...(first ? { node: { id: "n", cluster: "c", metadata } } : {}),
        ...o,
      }),
    );
    first = false;
  };
  /** Answers every response not answered yet (NACKs those `nack` picks), until nothing more comes. */
  const sync = (nack: (r: DeltaDiscoveryResponse) => boolean = () => false) => {
    const out: DeltaDiscoveryResponse[] = [];
    while (read < call.written.length) {
      const r = call.written[read++]!;
      out.push(r);
      const m = sent.get(r.typeUrl) ?? new Map<string, string>();
      sent.set(r.typeUrl, m);
      for (const n of r.removedResources) m.delete(n);
      // Like Envoy, a resource no longer subscribed to (an answer that crossed the unsubscription) is ignored.
      const sub = subs.get(r.typeUrl);
      // (VHDS names a namespace: `<route config>/<host>` under `<route config>`.)
      const wanted = (n: string) => sub?.has("*") || sub?.has(n) || sub?.has(n.slice(0, n.lastIndexOf("/")));
      for (const x of r.resources) if (x.resource && wanted(x.name)) m.set(x.name, x.version);
      const bad = nack(r);
      req({
        typeUrl: r.typeUrl,
        responseNonce: r.nonce,
        ...(bad ? { errorDetail: { message: "bad" } } : {}),
      });
    }
    return out;
  };
  const holds = (t: string) => sent.get(t) ?? new Map<string, string>();
  return { call, stream, acks, nacks, req, sync, holds, sent };
}

const versions = (ts: TypeSnapshot | undefined, names?: Set<string>) =>
  new Map(
    [...(ts?.resources.values() ?? [])]
      .filter((r) => !names || names.has(r.name))
      .map((r) => [r.name, r.version]),
  );

const text = (r: DeltaDiscoveryResponse) =>
  [...r.resources.map((x) => `+${x.name}@${x.version}`), ...r.removedResources.map((n) => `-${n}`)].join(" ");

describe("KnownVersions holds what a plain map would", () => {
  it.each([1, 2, 3])("over random sets, deletes and re-expressions (seed %i)", (seed) => {
    const rnd = prng(seed);
    const pick = (k: number) => `r${Math.floor(rnd() * k)}`;
    let ts = build(CDS, undefined, many("r", 30, "v0"));
    const known = new KnownVersions({ r1: "v0", r2: "old", x: "gone" });
    const model = new Map([
      ["r1", "v0"],
      ["r2", "old"],
      ["x", "gone"],
    ]);
    known.rebaseAll(ts.resources);
    for (let i = 1; i <= 300; i++) {
      const op = rnd();
      const n = pick(40);
      if (op < 0.25) {
        known.set(n, `v${i}`);
        model.set(n, `v${i}`);
      } else if (op < 0.4) {
        known.delete(n);
        model.delete(n);
      } else if (op < 0.55) {
        // A node caught up on one name (set to the map's version).
        const r = ts.resources.get(n);
        if (r) {
          known.set(n, r.version);
          model.set(n, r.version);
        }
      } else {
        const edits: Record<string, string | null> = {};
        for (let k = 0; k < 4; k++) edits[pick(40)] = rnd() < 0.3 ? null : `b${i}-${k}`;
        const next = build(CDS, ts, edits);
        if (rnd() < 0.8) known.rebase(next.resources, next.changes!.names);
        else known.rebaseAll(next.resources);
        ts = next;
      }
      for (const m of ["r0", "r1", "r2", "r39", "x", n]) expect(known.get(m)).toBe(model.get(m));
      expect(new Map([...known.keys()].map((k) => [k, known.get(k)]))).toEqual(model);
    }
  });

  it("a holder of few names of a large map lists them instead of marking every other name", () => {
    const ts = build(EDS, undefined, many("e", 1000, "v1"));
    const known = new KnownVersions({ e1: "v1", e2: "v0" });
    known.rebaseAll(ts.resources);
    expect(known.shared).toBe(false);
    expect(known.exceptions).toBe(2);
    for (let i = 0; i < 900; i++) known.set(`e${i}`, "v1");
    known.rebaseAll(ts.resources);
    expect(known.shared).toBe(true);
    expect(known.exceptions).toBe(100);
  });
});

describe("Delta streams keep per type only what differs from the snapshot", () => {
  // Endpoints: a removed cluster would be held until routes settle (ClusterHold), endpoints go at once.
  it("a wildcard node in step with the snapshot costs its stream no entry per resource", () => {
    let cds = build(EDS, undefined, many("e", 5000, "v0"));
    const src = new FakeSource(snapshotOf(new Map([[EDS, cds]])));
    const n = open(src);
    n.req({ typeUrl: EDS, resourceNamesSubscribe: ["*"] });
    n.sync();
    expect(n.stream.stateOf(EDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
    for (let i = 1; i <= 10; i++) {
      cds = build(EDS, cds, { [`e${i}`]: `v${i}`, [`e${4000 + i}`]: null, [`new${i}`]: "v1" });
      src.set(snapshotOf(new Map([[EDS, cds]]), i + 1));
      const out = n.sync();
      expect(out.map(text)).toEqual([`+e${i}@v${i} +new${i}@v1 -e${4000 + i}`]);
      expect(n.stream.stateOf(EDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
    }
    expect(n.holds(EDS)).toEqual(versions(cds));
  });

  it("a node behind by several builds is compared in full: nothing missed that an older build changed", () => {
    const v1 = build(EDS, undefined, many("e", 200, "v1"));
    const src = new FakeSource(snapshotOf(new Map([[EDS, v1]])));
    const n = open(src);
    n.req({ typeUrl: EDS, resourceNamesSubscribe: ["*"] });
    n.sync();
    // Two builds the stream never saw, then one it does: v4's change set starts from v3, not v1.
    const v2 = build(EDS, v1, { e1: "v2", e2: null });
    const v3 = build(EDS, v2, { e3: "v3", extra: "v3" });
    const v4 = build(EDS, v3, { e4: "v4" });
    src.snap = snapshotOf(new Map([[EDS, v2]]));
    src.snap = snapshotOf(new Map([[EDS, v3]]));
    src.set(snapshotOf(new Map([[EDS, v4]])));
    expect(v4.changes!.names).toEqual(new Set(["e4"]));
    const out = n.sync();
    expect(out.map(text)).toEqual(["+e1@v2 +e3@v3 +e4@v4 +extra@v3 -e2"]);
    expect(n.holds(EDS)).toEqual(versions(v4));
    expect(n.stream.stateOf(EDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
  });

  it("a NACKed resource is not re-sent until it changes; the stream still shares the snapshot's map", () => {
    let cds = build(CDS, undefined, { a: "1", b: "1" });
    const src = new FakeSource(snapshotOf(new Map([[CDS, cds]])));
    const n = open(src);
    n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"] });
    n.sync();
    const step = (edits: Record<string, string | null>, nack = false) => {
      cds = build(CDS, cds, edits);
      src.set(snapshotOf(new Map([[CDS, cds]])));
      return n.sync(() => nack).map(text);
    };
    expect(step({ a: "2" }, true)).toEqual(["+a@2"]);
    expect(n.nacks.map((e) => e.names)).toEqual([["a"]]);
    expect(step({ b: "2" })).toEqual(["+b@2"]);
    expect(step({ a: "3" })).toEqual(["+a@3"]);
    expect(n.stream.stateOf(CDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
  });

  it("a reconnecting node's initial_resource_versions: only what differs is sent, then the map is shared", () => {
    const cds = build(CDS, undefined, { ...many("c", 100, "v1"), c5: "v2" });
    const src = new FakeSource(snapshotOf(new Map([[CDS, cds]])));
    const n = open(src);
    n.req({
      typeUrl: CDS,
      resourceNamesSubscribe: ["*"],
      initialResourceVersions: { ...many("c", 100, "v1"), gone: "v1" },
    });
    expect(n.sync().map(text)).toEqual(["+c5@v2 -gone"]);
    expect(n.stream.stateOf(CDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
  });

  it("a few names of many are listed on their own; a change to an unsubscribed one sends nothing", () => {
    let eds = build(EDS, undefined, many("e", 1000, "v1"));
    const src = new FakeSource(snapshotOf(new Map([[EDS, eds]])));
    const n = open(src);
    n.req({ typeUrl: EDS, resourceNamesSubscribe: ["e1", "e2", "e3"] });
    expect(n.sync().map(text)).toEqual(["+e1@v1 +e2@v1 +e3@v1"]);
    expect(n.stream.stateOf(EDS)).toEqual({ shared: false, exceptions: 3, pending: 0 });
    eds = build(EDS, eds, { e2: "v2", e500: "v2" });
    src.set(snapshotOf(new Map([[EDS, eds]])));
    expect(n.sync().map(text)).toEqual(["+e2@v2"]);
    n.req({ typeUrl: EDS, resourceNamesUnsubscribe: ["e1"] });
    n.sync();
    expect(n.holds(EDS)).toEqual(versions(eds, new Set(["e2", "e3"])));
    expect(n.stream.stateOf(EDS)!.exceptions).toBe(2);
  });

  it.each([1, 2, 3, 4, 5, 6])(
    "random builds, skipped builds, NACKs, reconnects and subscription changes: the node is sent exactly its subscription (seed %i)",
    (seed) => {
      const rnd = prng(seed);
      const pick = (k: number) => Math.floor(rnd() * k);
      const types = new Map<string, TypeSnapshot>([
        [CDS, build(CDS, undefined, many("c", 40, "v0"))],
        [EDS, build(EDS, undefined, many("e", 40, "v0"))],
        [RDS, build(RDS, undefined, many("r", 40, "v0"))],
      ]);
      const src = new FakeSource(snapshotOf(new Map(types)));
      let n = open(src);
      let edsNames = new Set<string>();
      const subscribe = (initial = false) => {
        const init = (t: string) => (initial ? Object.fromEntries(n.holds(t)) : {});
        n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"], initialResourceVersions: init(CDS) });
        n.req({ typeUrl: EDS, resourceNamesSubscribe: [...edsNames], initialResourceVersions: init(EDS) });
        n.req({ typeUrl: RDS, resourceNamesSubscribe: ["*"], initialResourceVersions: init(RDS) });
      };
      edsNames = new Set(["e1", "e2", "e3", "e7"]);
      subscribe();
      let skipped = 0;
      let nacked = 0;
      for (let i = 1; i <= 60; i++) {
        const next = new Map<string, TypeSnapshot>();
        for (const [t, ts] of types) {
          const edits: Record<string, string | null> = {};
          const prefix = t === CDS ? "c" : t === EDS ? "e" : "r";
          for (let k = 0; k < 3; k++) edits[`${prefix}${pick(50)}`] = rnd() < 0.3 ? null : `v${i}-${k}`;
          next.set(t, rnd() < 0.1 ? ts : build(t, ts, edits, rnd() < 0.9));
        }
        for (const [t, ts] of next) types.set(t, ts);
        const snap = snapshotOf(new Map(types), i + 1);
        const x = rnd();
        if (x < 0.2) {
          src.snap = snap; // a build this stream does not see: the next one's change set starts from it
          skipped++;
          continue;
        }
        src.set(snap);
        if (x < 0.3) {
          // Reconnect: the node says what it holds (what it was sent), unanswered responses dropped.
          n.call.emit("cancelled");
          n = open(src, {}, n.sent);
          subscribe(true);
        } else if (x < 0.4) {
          const add = `e${pick(50)}`;
          const drop = [...edsNames][pick(edsNames.size)]!;
          edsNames.add(add);
          edsNames.delete(drop);
          n.req({ typeUrl: EDS, resourceNamesSubscribe: [add], resourceNamesUnsubscribe: [drop] });
        }
        // Sometimes slow: answers after the next build; sometimes NACKs.
        if (rnd() < 0.6)
          n.sync(() => {
            const bad = rnd() < 0.1;
            if (bad) nacked++;
            return bad;
          });
      }
      src.set(snapshotOf(new Map(types), 1000));
      n.sync();
      expect(skipped).toBeGreaterThan(3);
      expect(nacked).toBeGreaterThan(0);
      expect(n.holds(CDS)).toEqual(versions(types.get(CDS)));
      expect(n.holds(RDS)).toEqual(versions(types.get(RDS)));
      expect(n.holds(EDS)).toEqual(versions(types.get(EDS), edsNames));
      expect(n.stream.stateOf(CDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
      expect(n.stream.stateOf(RDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
    },
  );
});

describe("an answer of more than MAX_PENDING parts", () => {
  const count = (MAX_PENDING + 4) * MAX_RESOURCES_PER_RESPONSE;

  it("is ACKed part by part, every ACK attributed, when the node answers after reading them all", () => {
    const cds = build(CDS, undefined, many("c", count, "v1"));
    const src = new FakeSource(snapshotOf(new Map([[CDS, cds]])));
    const n = open(src);
    n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"] });
    expect(n.call.written.length).toBe(MAX_PENDING + 4);
    n.sync();
    expect(n.acks.length).toBe(MAX_PENDING + 4);
    expect(new Set(n.acks.flatMap((e) => e.names)).size).toBe(count);
    expect(n.stream.stateOf(CDS)).toEqual({ shared: true, exceptions: 0, pending: 0 });
  });

  it("a part still queued is counted as outstanding, gets its nonce when written, and is attributed", () => {
    const cds = build(CDS, undefined, many("c", count, "v1"));
    const src = new FakeSource(snapshotOf(new Map([[CDS, cds]])));
    const n = open(src);
    n.call.reading = false;
    n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"] });
    // Written: MAX_IN_FLIGHT; the rest waits unbuilt, but counts as sent and not settled.
    expect(n.call.written.length).toBe(2);
    expect(n.stream.stateOf(CDS)!.pending).toBe(MAX_PENDING + 4);
    n.call.reading = true;
    n.call.flush();
    const nonces = n.call.written.map((r) => r.nonce);
    expect(new Set(nonces).size).toBe(MAX_PENDING + 4);
    // The node NACKs the first part, read before the last ones were written.
    const first = n.call.written[0];
    n.sync((r) => r === first);
    expect(n.nacks.length).toBe(1);
    expect(n.nacks[0]!.names.length).toBe(MAX_RESOURCES_PER_RESPONSE);
    expect(n.acks.length).toBe(MAX_PENDING + 3);
    expect(n.stream.stateOf(CDS)!.pending).toBe(0);
  });

  it("a removed cluster stays while the route change that drops it is still queued, unwritten", () => {
    let cds = build(CDS, undefined, { a: "1", b: "1" });
    let rds = build(RDS, undefined, { r: "1" });
    const src = new FakeSource(
      snapshotOf(
        new Map([
          [CDS, cds],
          [RDS, rds],
        ]),
      ),
    );
    const n = open(src);
    n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"] });
    n.req({ typeUrl: RDS, resourceNamesSubscribe: ["*"] });
    n.sync();
    n.call.reading = false;
    // Two builds while the node reads nothing: the route change waits unwritten behind the first.
    cds = build(CDS, cds, { a: "2" });
    src.set(
      snapshotOf(
        new Map([
          [CDS, cds],
          [RDS, rds],
        ]),
      ),
    );
    cds = build(CDS, cds, { b: null });
    rds = build(RDS, rds, { r: "2" });
    src.set(
      snapshotOf(
        new Map([
          [CDS, cds],
          [RDS, rds],
        ]),
      ),
    );
    expect(n.stream.stateOf(RDS)!.pending).toBe(1);
    n.call.reading = true;
    n.call.flush();
    const texts = n.call.written.slice(-2).map((r) => `${r.typeUrl === CDS ? "CDS" : "RDS"} ${text(r)}`);
    expect(texts).toEqual(["CDS +a@2", "RDS +r@2"]);
    // Only the node's ACK of the routes lets the cluster go.
    expect(n.sync().map(text)).toEqual(["+a@2", "+r@2", "-b"]);
  });
});

describe("on-demand gateways keep their few hosts and clusters listed, not the whole registry", () => {
  it("holds the hosts it asked for and their clusters; updates reach it; nothing else is kept", () => {
    const app = (id: string, host: string, revision: number, upstream = "10.0.0.1:80") =>
      rec(
        {
          id,
          hosts: [host],
          pathPrefix: "/",
          upstreams: [upstream],
          jwt: jwt("https://op.test", "https://op.test/jwks"),
        },
        revision,
      );
    let apps = Array.from({ length: 300 }, (_, i) => app(`a${i}`, `h${i}.test`, 1));
    const cache = new SnapshotCache(cfg, { error: () => {} });
    cache.setRegistry({ revision: 1, apps });
    const n = open(cache, { vhds: "on_demand" });
    const held = ["a1", "a2", "a7"].map(appCluster);
    n.req({ typeUrl: CDS, resourceNamesSubscribe: ["*"] });
    n.req({ typeUrl: EDS, resourceNamesSubscribe: held });
    n.req({ typeUrl: TYPE_URLS.listener, resourceNamesSubscribe: ["*"] });
    n.req({ typeUrl: RDS, resourceNamesSubscribe: [GATEWAY_ROUTES] });
    n.req({ typeUrl: TYPE_URLS.vhds, resourceNamesSubscribe: [GATEWAY_ROUTES] });
    n.sync();
    for (const h of ["h1.test", "h2.test", "h7.test"])
      n.req({ typeUrl: TYPE_URLS.vhds, resourceNamesSubscribe: [`${GATEWAY_ROUTES}/${h}`] });
    n.sync();
    const appClusters = () => [...n.holds(CDS).keys()].filter((c) => c.startsWith(appCluster(""))).sort();
    expect(appClusters()).toEqual(held);
    expect([...n.holds(TYPE_URLS.vhds).keys()].sort()).toEqual(
      ["h1.test", "h2.test", "h7.test", "sessiongate.invalid"].map((h) => `${GATEWAY_ROUTES}/${h}`),
    );
    // An update of a held host's app and of another app: only the held one is sent.
    apps = apps.map((a) =>
      a.spec.id === "a2" || a.spec.id === "a200" ? app(a.spec.id, a.spec.hosts[0]!, 2, "10.0.0.9:80") : a,
    );
    cache.setRegistry({ revision: 2, apps });
    const out = n.sync();
    const names = out.flatMap((r) => r.resources.map((x) => x.name));
    expect(names).toContain(appCluster("a2"));
    expect(names).not.toContain(appCluster("a200"));
    const snap = cache.snapshotFor({
      id: "n",
      cluster: "c",
      metadata: { vhds: "on_demand" },
      adsMode: "delta",
    });
    const isApp = (c: string) => c.startsWith(appCluster(""));
    const cds = snap.types.get(CDS)!;
    expect(n.holds(CDS)).toEqual(
      versions(cds, new Set([...cds.resources.keys()].filter((c) => !isApp(c) || held.includes(c)))),
    );
    expect(n.holds(EDS)).toEqual(versions(snap.types.get(EDS), new Set(held)));
    for (const t of [CDS, TYPE_URLS.vhds]) {
      const st = n.stream.stateOf(t)!;
      expect(st.shared, t).toBe(false);
      expect(st.exceptions, t).toBe(n.holds(t).size);
    }
  });
});
