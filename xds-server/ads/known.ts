// What a Delta node holds of one type (name -> version, as far as the stream
// sent it or the node said so), stored as a reference to a snapshot's own
// resource map (shared by every stream, never written) plus the names where
// the node differs from it: a wildcard node in step with the snapshot costs
// its stream a pointer, not a map of every resource. And the comparison of
// what a node holds with a snapshot (diffAll, diffNames).
import type { VersionedResource } from "../resource/types.js";

/** An overlay entry: the version the node holds, or NOT_HELD for a base name it does not hold. */
const NOT_HELD = null;

export interface HeldVersions {
  get(name: string): string | undefined;
  has(name: string): boolean;
  keys(): Iterable<string>;
}

export class KnownVersions implements HeldVersions {
  /** A snapshot's resource map; undefined: the overlay lists everything held. */
  private base?: ReadonlyMap<string, VersionedResource>;
  private over = new Map<string, string | typeof NOT_HELD>();

  /** `initial`: what the node says it holds (Delta initial_resource_versions). */
  constructor(initial: Record<string, string> = {}) {
    for (const [n, v] of Object.entries(initial)) this.over.set(n, v);
  }

  get(name: string): string | undefined {
    const o = this.over.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.base?.get(name)?.version;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, version: string): void {
    if (this.base?.get(name)?.version === version) this.over.delete(name);
    else this.over.set(name, version);
  }

  delete(name: string): void {
    if (this.base?.has(name)) this.over.set(name, NOT_HELD);
    else this.over.delete(name);
  }

  /** Every name held. */
  *keys(): IterableIterator<string> {
    if (this.base) for (const n of this.base.keys()) if (this.over.get(n) !== NOT_HELD) yield n;
    for (const [n, o] of this.over) if (o !== NOT_HELD && !this.base?.has(n)) yield n;
  }

  /** Entries beyond the shared map (tests, and the per-stream cost they measure). */
  get exceptions(): number {
    return this.over.size;
  }

  /** Whether the shared map is in use (else the overlay lists everything held). */
  get shared(): boolean {
    return this.base !== undefined;
  }

  /**
   * Re-expresses the same holdings against `next`, given that every name whose
   * version differs between the current map and `next` is in `changed` (the
   * snapshot-to-snapshot change set): O(changed). Without a shared map there
   * is nothing to re-express.
   */
  rebase(next: ReadonlyMap<string, VersionedResource>, changed: Iterable<string>): void {
    if (!this.base || next === this.base) return;
    const held: [string, string | undefined][] = [];
    for (const n of changed) held.push([n, this.get(n)]);
    this.base = next;
    for (const [n, v] of held) {
      if (v === undefined) this.delete(n);
      else this.set(n, v);
    }
  }

  /**
   * Re-expresses the same holdings against `next` whatever the current map:
   * O(resources), for after a full comparison. When the node holds less than
   * half of `next` (a node subscribed to a few names, an on-demand gateway)
   * the overlay lists what it holds instead, so it never costs more than twice
   * what is held.
   */
  rebaseAll(next: ReadonlyMap<string, VersionedResource>): void {
    if (next === this.base && this.over.size === 0) return;
    const over = new Map<string, string | typeof NOT_HELD>();
    let notHeld = 0;
    for (const [n, r] of next) {
      const v = this.get(n);
      if (v === r.version) continue;
      over.set(n, v ?? NOT_HELD);
      if (v === undefined) notHeld++;
    }
    if (this.base) for (const n of this.base.keys()) if (!next.has(n)) this.keep(over, n);
    for (const n of this.over.keys()) if (!next.has(n) && !this.base?.has(n)) this.keep(over, n);
    if (notHeld * 2 > next.size) {
      const explicit = new Map<string, string | typeof NOT_HELD>();
      for (const n of this.keys()) explicit.set(n, this.get(n)!);
      this.base = undefined;
      this.over = explicit;
      return;
    }
    this.base = next;
    this.over = over;
  }

  private keep(over: Map<string, string | typeof NOT_HELD>, n: string): void {
    const v = this.get(n);
    if (v !== undefined) over.set(n, v);
  }
}

type Wanted = (name: string) => boolean;

/** What to send to a node holding `known` to reach `all`: every resource compared. */
export function diffAll(known: HeldVersions, all: Map<string, VersionedResource>, wanted: Wanted) {
  const changed: VersionedResource[] = [];
  for (const [n, r] of all) if (wanted(n) && known.get(n) !== r.version) changed.push(r);
  const removed: string[] = [];
  for (const n of known.keys()) if (!all.has(n) || !wanted(n)) removed.push(n);
  return { changed, removed };
}

/** The same, looking only at `names` (the rest is known to match). */
export function diffNames(
  known: HeldVersions,
  all: Map<string, VersionedResource>,
  wanted: Wanted,
  names: ReadonlySet<string>,
) {
  const changed: VersionedResource[] = [];
  const removed: string[] = [];
  for (const n of names) {
    const r = all.get(n);
    if (r && wanted(n)) {
      if (known.get(n) !== r.version) changed.push(r);
    } else if (known.has(n)) removed.push(n);
  }
  return { changed, removed };
}
