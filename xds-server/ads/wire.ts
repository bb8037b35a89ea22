// ADS responses on the wire. One resource goes to every node that holds it, so
// its Delta `Resource` message is made once (shared, never written) and a
// response is serialized by copying each resource's bytes once into a buffer
// sized first: protobuf-es's reflective writer, per response and per stream,
// was most of what a one-app change cost 100 streams (it grows its buffer by
// copies, which a 10 MB SotW RouteConfiguration pays several times). Only the
// fields the streams set are written here, in field-number order as protobuf-es
// writes them (the bytes are the same, test/xds/ads-wire.test.ts); a message
// with any other field set goes through protobuf-es.
import { create, type DescMessage, isMessage, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import {
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
  type Resource,
  ResourceSchema,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import type { VersionedResource } from "../resource/types.js";

const shared = new WeakMap<VersionedResource, Resource>();

/** The Delta `Resource` for a snapshot resource (no aliases): one per resource, whatever the number of streams. */
export function deltaResource(r: VersionedResource): Resource {
  let m = shared.get(r);
  if (!m) {
    m = create(ResourceSchema, { name: r.name, version: r.version, resource: r.any });
    shared.set(r, m);
  }
  return m;
}

/** Like the generic codec (resource/grpc.ts): a plain init object is accepted too. */
const asMessage = <D extends DescMessage>(schema: D, m: unknown): MessageShape<D> =>
  // biome-ignore lint/suspicious/noExplicitAny: init shape of the message.
  isMessage(m, schema) ? m : create(schema, m as any);

const strLen = (s: string) => Buffer.byteLength(s, "utf8");
const varintLen = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
/** A length-delimited field of `len` bytes (field numbers below 16: a one-byte tag). */
const fieldLen = (len: number) => 1 + varintLen(len) + len;

class Writer {
  readonly buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  head(field: number, len: number): void {
    this.buf[this.off++] = (field << 3) | 2;
    let n = len;
    while (n > 0x7f) {
      this.buf[this.off++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.off++] = n;
  }
  str(field: number, s: string): void {
    this.head(field, strLen(s));
    this.off += this.buf.write(s, this.off, "utf8");
  }
  bytes(field: number, b: Uint8Array): void {
    this.head(field, b.length);
    this.buf.set(b, this.off);
    this.off += b.length;
  }
}

const plainAny = (a: Any) => a.$unknown === undefined;
const anyLen = (a: Any) =>
  (a.typeUrl ? fieldLen(strLen(a.typeUrl)) : 0) + (a.value.length ? fieldLen(a.value.length) : 0);
function writeAny(w: Writer, field: number, a: Any, len: number): void {
  w.head(field, len);
  if (a.typeUrl) w.str(1, a.typeUrl);
  if (a.value.length) w.bytes(2, a.value);
}

const plainResource = (r: Resource) =>
  r.$unknown === undefined &&
  r.resourceName === undefined &&
  r.ttl === undefined &&
  r.cacheControl === undefined &&
  r.metadata === undefined &&
  (r.resource === undefined || plainAny(r.resource));

function resourceLen(r: Resource): number {
  let n = r.version ? fieldLen(strLen(r.version)) : 0;
  if (r.resource) n += fieldLen(anyLen(r.resource));
  if (r.name) n += fieldLen(strLen(r.name));
  for (const a of r.aliases) n += fieldLen(strLen(a));
  return n;
}

/** Wire bytes of a Delta response (gRPC's serializer for DeltaAggregatedResources). */
export function encodeDeltaResponse(m: DeltaDiscoveryResponse): Buffer {
  if (
    !isMessage(m, DeltaDiscoveryResponseSchema) ||
    m.$unknown !== undefined ||
    m.controlPlane !== undefined ||
    m.removedResourceNames.length > 0 ||
    !m.resources.every(plainResource)
  )
    return Buffer.from(toBinary(DeltaDiscoveryResponseSchema, asMessage(DeltaDiscoveryResponseSchema, m)));
  const lens = m.resources.map(resourceLen);
  let size = m.systemVersionInfo ? fieldLen(strLen(m.systemVersionInfo)) : 0;
  for (const n of lens) size += fieldLen(n);
  if (m.typeUrl) size += fieldLen(strLen(m.typeUrl));
  if (m.nonce) size += fieldLen(strLen(m.nonce));
  for (const n of m.removedResources) size += fieldLen(strLen(n));
  const w = new Writer(size);
  if (m.systemVersionInfo) w.str(1, m.systemVersionInfo);
  for (const [i, r] of m.resources.entries()) {
    w.head(2, lens[i]!);
    if (r.version) w.str(1, r.version);
    if (r.resource) writeAny(w, 2, r.resource, anyLen(r.resource));
    if (r.name) w.str(3, r.name);
    for (const a of r.aliases) w.str(4, a);
  }
  if (m.typeUrl) w.str(4, m.typeUrl);
  if (m.nonce) w.str(5, m.nonce);
  for (const n of m.removedResources) w.str(6, n);
  return w.buf;
}

/** Wire bytes of a SotW response (gRPC's serializer for StreamAggregatedResources). */
export function encodeSotwResponse(m: DiscoveryResponse): Buffer {
  if (
    !isMessage(m, DiscoveryResponseSchema) ||
    m.$unknown !== undefined ||
    m.controlPlane !== undefined ||
    m.canary ||
    !m.resources.every(plainAny)
  )
    return Buffer.from(toBinary(DiscoveryResponseSchema, asMessage(DiscoveryResponseSchema, m)));
  const lens = m.resources.map(anyLen);
  let size = m.versionInfo ? fieldLen(strLen(m.versionInfo)) : 0;
  for (const n of lens) size += fieldLen(n);
  if (m.typeUrl) size += fieldLen(strLen(m.typeUrl));
  if (m.nonce) size += fieldLen(strLen(m.nonce));
  const w = new Writer(size);
  if (m.versionInfo) w.str(1, m.versionInfo);
  for (const [i, a] of m.resources.entries()) writeAny(w, 2, a, lens[i]!);
  if (m.typeUrl) w.str(4, m.typeUrl);
  if (m.nonce) w.str(5, m.nonce);
  return w.buf;
}
