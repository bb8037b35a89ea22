// The server-wide bound on initial syncs (ads/sync-gate.ts), over real gRPC:
// many nodes connecting at once all end up with the whole configuration while
// at most `limit` of them sync at a time; a node that disconnects mid-sync
// gives its slot back; a node that never reads loses its slot after the hold;
// and a synced node's per-change push never waits behind initial syncs.
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { AdsClient, addAdsService } from "../../xds-server/ads/service.js";
import { SyncGate } from "../../xds-server/ads/sync-gate.js";
import { type NodeSnapshot, TYPE_URLS, type VersionedResource } from "../../xds-server/resource/types.js";
import { waitFor } from "../harness/ports.js";
import { FakeSource } from "./fake-source.js";

const CDS = TYPE_URLS.cluster;

/** `count` clusters of `bytes` each at `version` (2,000 x 400 B: several 256 KiB parts per sync). */
function clusters(version: string, count = 2000, bytes = 400, changed?: string): NodeSnapshot {
  const map = new Map<string, VersionedResource>();
  for (let i = 0; i < count; i++) {
    const name = `c${i}`;
    const v = changed === undefined || name === changed ? version : "v1";
    map.set(name, {
      name,
      version: v,
      apps: [],
      any: create(AnySchema, { typeUrl: CDS, value: new Uint8Array(bytes).fill(i % 256) }),
    });
  }
  return { revision: 1, appRevisions: new Map(), types: new Map([[CDS, { version, resources: map }]]) };
}

/**
 * Big enough that a node that never reads cannot take it all into buffers
 * (grpc-js reads 16 messages ahead, plus HTTP/2 windows and socket buffers):
 * ~20 MB, 80 parts, so it keeps its slot until it leaves or loses it.
 */
const STALLING = [40_000, 500] as const;

const versionsOf = (s: NodeSnapshot) =>
  new Map([...s.types.get(CDS)!.resources.values()].map((r) => [r.name, r.version]));

interface Server {
  addr: string;
  src: FakeSource;
  gate: SyncGate;
  client: InstanceType<typeof AdsClient>;
  closers: (() => void)[];
  stop(): void;
}

let running: Server | undefined;
afterEach(() => {
  running?.stop();
  running = undefined;
});

async function serve(limit: number, holdMs: number, snap = clusters("v1")): Promise<Server> {
  const server = new grpc.Server();
  const src = new FakeSource(snap);
  const gate = new SyncGate(limit, holdMs);
  addAdsService(server, src, {}, { warn: () => {} }, undefined, gate);
  const port = await new Promise<number>((ok, fail) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))),
  );
  const addr = `127.0.0.1:${port}`;
  const client = new AdsClient(addr, grpc.credentials.createInsecure());
  running = {
    addr,
    src,
    gate,
    client,
    closers: [],
    stop: () => {
      for (const c of running?.closers ?? []) c();
      client.close();
      server.forceShutdown();
    },
  };
  return running;
}

/** A Delta node subscribing to every cluster; ACKs each response when `reading`. */
function node(s: Server, id: string, reading = true) {
  // A node that never reads gets a connection of its own: on a shared one, the
  // others' reads would keep refilling the connection's HTTP/2 window.
  const client = reading
    ? s.client
    : new AdsClient(s.addr, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  if (!reading) s.closers.push(() => client.close());
  const call = client.deltaAggregatedResources() as grpc.ClientDuplexStream<unknown, DeltaDiscoveryResponse>;
  const held = new Map<string, string>();
  const got: DeltaDiscoveryResponse[] = [];
  call.on("error", () => {});
  if (reading)
    call.on("data", (r: DeltaDiscoveryResponse) => {
      got.push(r);
      for (const n of r.removedResources) held.delete(n);
      for (const x of r.resources) held.set(x.name, x.version);
      call.write(create(DeltaDiscoveryRequestSchema, { typeUrl: CDS, responseNonce: r.nonce }));
    });
  call.write(
    create(DeltaDiscoveryRequestSchema, {
      node: { id, cluster: "gw" },
      typeUrl: CDS,
      resourceNamesSubscribe: ["*"],
    }),
  );
  const holds = (want: Map<string, string>) =>
    held.size === want.size && [...want].every(([n, v]) => held.get(n) === v);
  return { call, held, got, holds };
}

describe("SyncGate: initial syncs bounded server-wide", () => {
  it("20 nodes connecting at once with a limit of 2 all get the whole configuration, never more than 2 syncing", async () => {
    const s = await serve(2, 60_000);
    const want = versionsOf(s.src.snap);
    let maxSyncing = 0;
    let maxQueued = 0;
    const watch = setInterval(() => {
      maxSyncing = Math.max(maxSyncing, s.gate.syncing);
      maxQueued = Math.max(maxQueued, s.gate.queued);
    }, 1);
    const nodes = Array.from({ length: 20 }, (_, i) => node(s, `n${i}`));
    await waitFor("every node holds every cluster", async () => nodes.every((n) => n.holds(want)), 60_000);
    clearInterval(watch);
    expect(maxSyncing).toBeLessThanOrEqual(2);
    expect(maxQueued).toBeGreaterThan(0); // the bound was exercised, not just never reached
    for (const n of nodes) expect(n.got.length).toBeGreaterThan(1); // each sync is several parts
    await waitFor("every slot released", async () => s.gate.syncing === 0 && s.gate.queued === 0);
    for (const n of nodes) n.call.cancel();
  });

  it("a node that disconnects mid-sync gives its slot back", async () => {
    const s = await serve(1, 600_000, clusters("v1", ...STALLING));
    const want = versionsOf(s.src.snap);
    const a = node(s, "a", false); // holds the slot: reads nothing
    await waitFor("a holds the slot", async () => s.gate.syncing === 1);
    const b = node(s, "b");
    await waitFor("b waits for a", async () => s.gate.queued === 1);
    expect(b.held.size).toBe(0);
    a.call.cancel();
    await waitFor("b, after a left, holds every cluster", async () => b.holds(want), 30_000);
    await waitFor("slot released", async () => s.gate.syncing === 0);
    b.call.cancel();
  });

  it("a node that never reads loses its slot after the hold, so the others still sync", async () => {
    const s = await serve(1, 300, clusters("v1", ...STALLING));
    const want = versionsOf(s.src.snap);
    const a = node(s, "a", false);
    await waitFor("a holds the slot", async () => s.gate.syncing === 1);
    const b = node(s, "b");
    await waitFor("b holds every cluster though a never read", async () => b.holds(want), 30_000);
    expect(a.got.length).toBe(0);
    a.call.cancel();
    b.call.cancel();
  });

  it("a synced node's change push does not wait behind initial syncs", async () => {
    const s = await serve(1, 600_000, clusters("v1", ...STALLING));
    const synced = node(s, "synced");
    await waitFor("first node synced", async () => synced.holds(versionsOf(s.src.snap)));
    await waitFor("its slot released", async () => s.gate.syncing === 0);
    const stuck = node(s, "stuck", false); // takes the only slot and keeps it
    await waitFor("stuck holds the slot", async () => s.gate.syncing === 1);
    const late = node(s, "late");
    await waitFor("late waits", async () => s.gate.queued === 1);
    const before = synced.got.length;
    const next = clusters("v2", ...STALLING, "c7");
    s.src.set(next);
    await waitFor("the synced node got the change", async () => synced.holds(versionsOf(next)));
    expect(synced.got.length).toBe(before + 1); // one small push, not a resync
    expect(synced.got.at(-1)!.resources.map((r) => r.name)).toEqual(["c7"]);
    expect(s.gate.queued).toBe(1); // late is still waiting: the push did not go through the gate
    expect(late.held.size).toBe(0);
    stuck.call.cancel();
    await waitFor("late then syncs", async () => late.holds(versionsOf(next)), 30_000);
    synced.call.cancel();
    late.call.cancel();
  });
});

describe("SyncGate on its own", () => {
  it("grants in arrival order, at most `limit` at once; release is idempotent; a waiting turn can leave the queue", () => {
    const g = new SyncGate(2, 60_000);
    const started: string[] = [];
    const t = ["a", "b", "c", "d", "e"].map((n) => g.acquire(() => started.push(n)));
    expect(started).toEqual(["a", "b"]);
    expect([g.syncing, g.queued]).toEqual([2, 3]);
    t[3].release(); // d leaves the queue before its turn
    t[0].release();
    t[0].release(); // twice: frees one slot only
    expect(started).toEqual(["a", "b", "c"]);
    t[1].release();
    expect(started).toEqual(["a", "b", "c", "e"]);
    expect([g.syncing, g.queued]).toEqual([2, 0]);
    t[2].release();
    t[4].release();
    expect([g.syncing, g.queued]).toEqual([0, 0]);
  });

  it("with a limit of 0 never makes a stream wait", () => {
    const g = new SyncGate(0, 60_000);
    let n = 0;
    for (let i = 0; i < 50; i++) g.acquire(() => n++);
    expect([n, g.syncing, g.queued]).toEqual([50, 0, 0]);
  });
});
