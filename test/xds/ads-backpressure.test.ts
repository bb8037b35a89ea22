// Bounded ADS output (ads/stream.ts outbox, ads/common.ts batches): a large
// Delta sync goes out as several bounded responses whose union is the
// snapshot, each ACKed on its own; and a node that does not read makes the
// server hold at most MAX_IN_FLIGHT written responses for it, the rest
// queued unbuilt until the HTTP/2 stream takes the earlier ones. The fake
// call models HTTP/2 flow control the way grpc-js reports it: the write
// callback fires only once the stream took the bytes.
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { MAX_RESOURCES_PER_RESPONSE, MAX_RESPONSE_BYTES } from "../../xds-server/ads/common.js";
import { DeltaStream } from "../../xds-server/ads/delta.js";
import { SotwStream } from "../../xds-server/ads/sotw.js";
import { MAX_IN_FLIGHT } from "../../xds-server/ads/stream.js";
import {
  type AckNack,
  type NodeSnapshot,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../../xds-server/resource/types.js";
import { FakeCall } from "./fake-call.js";
import { FakeSource } from "./fake-source.js";

const CDS = TYPE_URLS.cluster;
const NODE = { id: "n1", cluster: "gw" };

/** A call whose peer reads only when told: `flush()` lets the HTTP/2 stream take what was written. */
/** `count` resources `c<i>` of `type` (clusters unless said) at `version`, each `bytes` long. */
function clusters(count: number, version: string, bytes = 16, type: string = CDS): NodeSnapshot {
  const map = new Map<string, VersionedResource>();
  for (let i = 0; i < count; i++) {
    const name = `c${i}`;
    map.set(name, {
      name,
      version,
      apps: [],
      any: create(AnySchema, { typeUrl: type, value: new Uint8Array(bytes).fill(i % 256) }),
    });
  }
  const types = new Map<string, TypeSnapshot>([[type, { version: `${count}@${version}`, resources: map }]]);
  return { revision: 1, appRevisions: new Map(), types };
}

const log = { warn: () => {} };

function openDelta(snap: NodeSnapshot, type: string = CDS) {
  const call = new FakeCall<DeltaDiscoveryResponse>();
  const src = new FakeSource(snap);
  const acks: AckNack[] = [];
  const stream = new DeltaStream(call as never, src, { onAck: (e) => acks.push(e) }, log);
  const request = (nonce?: string) =>
    call.emit(
      "data",
      create(DeltaDiscoveryRequestSchema, {
        node: NODE,
        typeUrl: type,
        resourceNamesSubscribe: nonce ? [] : ["*"],
        responseNonce: nonce ?? "",
      }),
    );
  return { call, src, acks, stream, request };
}

/** What a node applying `responses` in order holds: name -> version. */
function held(responses: DeltaDiscoveryResponse[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of responses) {
    for (const n of r.removedResources) m.delete(n);
    for (const x of r.resources) m.set(x.name, x.version);
  }
  return m;
}

const versions = (s: NodeSnapshot, type: string = CDS) =>
  new Map([...s.types.get(type)!.resources.values()].map((r) => [r.name, r.version]));

describe("Delta: a large sync goes out as bounded responses", () => {
  it("splits 2,500 clusters into responses of at most MAX_RESOURCES_PER_RESPONSE whose union is the snapshot", () => {
    const snap = clusters(2500, "v1");
    const { call, acks, request } = openDelta(snap);
    request();
    expect(call.written.length).toBe(Math.ceil(2500 / MAX_RESOURCES_PER_RESPONSE));
    for (const r of call.written) expect(r.resources.length).toBeLessThanOrEqual(MAX_RESOURCES_PER_RESPONSE);
    expect(held(call.written)).toEqual(versions(snap));
    // Every part has its own nonce, and each ACK is attributed to that part's names.
    const nonces = call.written.map((r) => r.nonce);
    expect(new Set(nonces).size).toBe(nonces.length);
    for (const n of nonces) request(n);
    expect(acks.map((a) => a.names.length)).toEqual(call.written.map((r) => r.resources.length));
    expect(new Set(acks.flatMap((a) => a.names))).toEqual(new Set(versions(snap).keys()));
  });

  it("keeps each response near MAX_RESPONSE_BYTES of resources, a larger resource alone", () => {
    const big = Math.floor(MAX_RESPONSE_BYTES / 3) + 1; // three do not fit in one response
    const snap = clusters(10, "v1", big);
    const { call, request } = openDelta(snap);
    request();
    expect(call.written.map((r) => r.resources.length)).toEqual([2, 2, 2, 2, 2]);
    for (const r of call.written) {
      const bytes = r.resources.reduce((s, x) => s + (x.resource?.value.length ?? 0), 0);
      expect(bytes).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
    }
    expect(held(call.written)).toEqual(versions(snap));
  });

  // Endpoints: removed clusters would be held back until routes settle (ClusterHold), endpoints go at once.
  it("sends removals once, with the first part", () => {
    const EDS = TYPE_URLS.endpoint;
    const { call, src, request } = openDelta(clusters(1500, "v1", 16, EDS), EDS);
    request();
    for (const r of call.written) request(r.nonce);
    const before = call.written.length;
    const next = clusters(1200, "v2", 16, EDS); // 300 removed, 1,200 changed
    src.set(next);
    const out = call.written.slice(before);
    expect(out.length).toBe(2);
    expect(out[0]!.removedResources.length).toBe(300);
    expect(out[1]!.removedResources).toEqual([]);
    expect(held(call.written)).toEqual(versions(next, EDS));
  });
});

describe("a node that does not read does not make the server queue bytes for it", () => {
  it("Delta: at most MAX_IN_FLIGHT responses written while the node does not read; all arrive once it does", () => {
    const { call, src, stream, request } = openDelta(clusters(5000, "v0"));
    call.reading = false;
    request();
    for (let v = 1; v <= 50; v++) src.set(clusters(5000, `v${v}`));
    expect(call.written.length).toBe(MAX_IN_FLIGHT);
    expect(call.waiting).toBe(MAX_IN_FLIGHT);
    // The rest waits unbuilt (5 parts per sync, 51 syncs).
    expect(stream.backlog).toBe(51 * 5);
    call.reading = true;
    call.flush();
    expect(stream.backlog).toBe(0);
    expect(call.written.length).toBe(51 * 5);
    expect(held(call.written)).toEqual(versions(clusters(5000, "v50")));
  });

  it("SotW: the same bound, responses in order", () => {
    const call = new FakeCall<DiscoveryResponse>();
    const src = new FakeSource(clusters(100, "v0"));
    const stream = new SotwStream(call as never, src, {}, log);
    call.reading = false;
    call.emit("data", create(DiscoveryRequestSchema, { node: NODE, typeUrl: CDS }));
    for (let v = 1; v <= 10; v++) src.set(clusters(100, `v${v}`));
    expect(call.written.length).toBe(MAX_IN_FLIGHT);
    call.reading = true;
    call.flush();
    expect(stream.backlog).toBe(0);
    expect(call.written.map((r) => r.versionInfo).at(-1)).toBe("100@v10");
  });

  it("a closed stream drops what it had queued", () => {
    const { call, stream, request } = openDelta(clusters(5000, "v0"));
    call.reading = false;
    request();
    expect(stream.backlog).toBe(5);
    call.emit("cancelled");
    expect(stream.backlog).toBe(MAX_IN_FLIGHT);
    call.reading = true;
    call.flush();
    expect(call.written.length).toBe(MAX_IN_FLIGHT);
  });
});
