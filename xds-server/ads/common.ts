// Pieces shared by the SotW and Delta streams: node parsing, nonces and the
// "hold removed clusters until listeners and routes moved off them" rule.
import { createHash, randomBytes } from "node:crypto";
import type { Node } from "../../protos/gen/envoy/config/core/v3/base_pb.js";
import {
  type NodeInfo,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
  WILDCARD_TYPES,
} from "../resource/types.js";

export function nodeInfo(n: Node): NodeInfo {
  // protobuf-es maps google.protobuf.Struct to a plain JSON object.
  return { id: n.id, cluster: n.cluster, metadata: (n.metadata ?? {}) as Record<string, unknown> };
}

/** xDS wildcard rule: "*" among the names, or no names for a type where that means all (CDS, LDS). */
export function isWildcard(typeUrl: string, names: string[]): boolean {
  return (WILDCARD_TYPES.has(typeUrl) && names.length === 0) || names.includes("*");
}

let counter = 0;
const prefix = randomBytes(3).toString("hex");
/** Unique per process and stream message; never reused. */
export function nextNonce(): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * Clusters a node still has but the new snapshot dropped stay in the CDS view
 * until the node has settled LDS and RDS (ACK or NACK), so routes never point
 * at a cluster that is already gone.
 */
export class ClusterHold {
  readonly held = new Map<string, VersionedResource>();

  /**
   * Records clusters in `sent` that `next` no longer has. `changed`: the only
   * names that differ from the snapshot `sent` was taken from (a held cluster
   * that comes back is among them), so only those are looked at.
   */
  retain(
    sent: Map<string, VersionedResource>,
    next: Map<string, VersionedResource>,
    changed?: ReadonlySet<string>,
  ): void {
    if (changed) {
      for (const n of changed) {
        const r = sent.get(n);
        if (next.has(n)) this.held.delete(n);
        else if (r) this.held.set(n, r);
      }
      return;
    }
    for (const [n, r] of sent) if (!next.has(n)) this.held.set(n, r);
    for (const n of next.keys()) this.held.delete(n);
  }

  /** The CDS view: `next` plus held clusters. */
  view(next: Map<string, VersionedResource>): Map<string, VersionedResource> {
    if (this.held.size === 0) return next;
    const m = new Map(next);
    for (const [n, r] of this.held) if (!m.has(n)) m.set(n, r);
    return m;
  }
}

/** Types whose resources name clusters: held clusters wait for these to settle. */
export const dependentTypes = [TYPE_URLS.ecds, TYPE_URLS.listener, TYPE_URLS.route, TYPE_URLS.vhds];

export function viewVersion(base: string, held: Map<string, VersionedResource>): string {
  if (held.size === 0) return base;
  const h = createHash("sha256")
    .update([...held.keys()].sort().join(","))
    .digest("hex")
    .slice(0, 8);
  return `${base}+hold.${h}`;
}

/** No name changed (every ACK of a current type asks: one set for all, never written). */
const NOTHING: ReadonlySet<string> = new Set();

/**
 * The names a stream holding `held` must look at to catch up with `next`:
 * the names the cache says changed when `next` was built from `held` (or none
 * when it is the same), else undefined: compare every resource. A one-app
 * change then costs a stream O(changed names), not O(resources).
 */
export function changedSince(
  held: TypeSnapshot | undefined,
  next: TypeSnapshot | undefined,
): ReadonlySet<string> | undefined {
  if (held === next) return NOTHING;
  return held && next?.changes?.from === held ? next.changes.names : undefined;
}

/**
 * Bounds of one Delta response: a large sync goes out as several (Delta allows
 * it per type). What a stream has serialized and not yet flushed is at most
 * MAX_IN_FLIGHT of these: 256 KiB rather than 1 MiB took the xds-server from
 * ~490 to ~395 MiB RSS with 100 clients syncing 10,000 apps at once.
 */
export const MAX_RESOURCES_PER_RESPONSE = 1000;
export const MAX_RESPONSE_BYTES = 1 << 18;

/**
 * Splits `items` into consecutive batches of at most MAX_RESOURCES_PER_RESPONSE
 * items and about MAX_RESPONSE_BYTES (`size` of each; a larger item goes
 * alone). Always at least one batch, so an empty answer is still sent.
 */
export function batches<T>(items: T[], size: (item: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    const n = size(it);
    if (cur.length > 0 && (cur.length >= MAX_RESOURCES_PER_RESPONSE || bytes + n > MAX_RESPONSE_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += n;
  }
  out.push(cur);
  return out;
}
