// ADS responses on the wire (xds-server/ads/wire.ts): the hand-sized encoder
// writes exactly the bytes protobuf-es writes, for every shape the streams
// send (empty and multi-byte lengths, aliases, removals, non-ASCII names,
// empty fields) and for messages with fields it leaves to protobuf-es; and the
// ADS service serializes with it.
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema, DurationSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  ResourceSchema,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { AdsServiceDefinition } from "../../xds-server/ads/service.js";
import { deltaResource, encodeDeltaResponse, encodeSotwResponse } from "../../xds-server/ads/wire.js";
import { TYPE_URLS, type VersionedResource } from "../../xds-server/resource/types.js";
import { prng } from "./fake-call.js";

const SIZES = [0, 1, 127, 128, 16_383, 16_384, 70_000, 2_100_000];
const NAMES = ["", "c", "sessiongate_gateway/shop.example.com:8443", "hôte-é.test/ü", "x".repeat(200)];

function randomAny(rnd: () => number) {
  const size = SIZES[Math.floor(rnd() * (rnd() < 0.9 ? 5 : SIZES.length))]!;
  return create(AnySchema, {
    typeUrl: rnd() < 0.1 ? "" : TYPE_URLS.cluster,
    value: new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff),
  });
}
const pick = <T>(rnd: () => number, xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;

function randomDelta(rnd: () => number): DeltaDiscoveryResponse {
  const resources = Array.from({ length: Math.floor(rnd() * 5) }, () =>
    create(ResourceSchema, {
      name: pick(rnd, NAMES),
      version: rnd() < 0.2 ? "" : `v${Math.floor(rnd() * 1e6)}`,
      ...(rnd() < 0.85 ? { resource: randomAny(rnd) } : {}),
      aliases: rnd() < 0.3 ? [pick(rnd, NAMES), pick(rnd, NAMES)] : [],
    }),
  );
  return create(DeltaDiscoveryResponseSchema, {
    systemVersionInfo: rnd() < 0.2 ? "" : "abc123",
    typeUrl: rnd() < 0.1 ? "" : TYPE_URLS.vhds,
    nonce: rnd() < 0.1 ? "" : `n-${Math.floor(rnd() * 1e9)}`,
    resources,
    removedResources: rnd() < 0.4 ? [pick(rnd, NAMES), pick(rnd, NAMES)] : [],
  });
}

function randomSotw(rnd: () => number): DiscoveryResponse {
  return create(DiscoveryResponseSchema, {
    versionInfo: rnd() < 0.2 ? "" : "v1+hold.abcd",
    typeUrl: rnd() < 0.1 ? "" : TYPE_URLS.route,
    nonce: rnd() < 0.1 ? "" : "n-1",
    resources: Array.from({ length: Math.floor(rnd() * 4) }, () => randomAny(rnd)),
  });
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

describe("ADS responses on the wire", () => {
  it("Delta: the same bytes as protobuf-es for 300 random responses", () => {
    const rnd = prng(1);
    for (let i = 0; i < 300; i++) {
      const m = randomDelta(rnd);
      expect(same(encodeDeltaResponse(m), toBinary(DeltaDiscoveryResponseSchema, m)), `response ${i}`).toBe(
        true,
      );
    }
  });

  it("SotW: the same bytes as protobuf-es for 300 random responses", () => {
    const rnd = prng(2);
    for (let i = 0; i < 300; i++) {
      const m = randomSotw(rnd);
      expect(same(encodeSotwResponse(m), toBinary(DiscoveryResponseSchema, m)), `response ${i}`).toBe(true);
    }
  });

  it("fields the encoder does not write go through protobuf-es, and plain init objects are accepted", () => {
    const withTtl = create(DeltaDiscoveryResponseSchema, {
      typeUrl: TYPE_URLS.cluster,
      resources: [create(ResourceSchema, { name: "a", ttl: create(DurationSchema, { seconds: 5n }) })],
      controlPlane: { identifier: "cp" },
    });
    expect(same(encodeDeltaResponse(withTtl), toBinary(DeltaDiscoveryResponseSchema, withTtl))).toBe(true);
    const canary = create(DiscoveryResponseSchema, { canary: true, controlPlane: { identifier: "cp" } });
    expect(same(encodeSotwResponse(canary), toBinary(DiscoveryResponseSchema, canary))).toBe(true);
    const init = { typeUrl: TYPE_URLS.cluster, nonce: "n" } as unknown as DiscoveryResponse;
    expect(
      same(
        encodeSotwResponse(init),
        toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, init)),
      ),
    ).toBe(true);
  });

  it("a snapshot resource's Delta message is made once, whatever the number of streams", () => {
    const r: VersionedResource = {
      name: "c1",
      version: "v1",
      apps: [],
      any: create(AnySchema, { typeUrl: TYPE_URLS.cluster, value: new Uint8Array([1, 2, 3]) }),
    };
    const m = deltaResource(r);
    expect(deltaResource(r)).toBe(m);
    expect({ name: m.name, version: m.version, any: m.resource, aliases: m.aliases }).toEqual({
      name: "c1",
      version: "v1",
      any: r.any,
      aliases: [],
    });
  });

  it("the ADS service serializes responses with it", () => {
    expect(AdsServiceDefinition.deltaAggregatedResources.responseSerialize).toBe(encodeDeltaResponse);
    expect(AdsServiceDefinition.streamAggregatedResources.responseSerialize).toBe(encodeSotwResponse);
  });
});
