// The store contract shared by the in-memory and Redis registries, and the
// snapshot/diff/listener plumbing both use. Writes are atomic (all checks
// before any write); readers see whole snapshots at one revision.
import type { BatchOp } from "./batch.js";
import type { AppRecord, AppSpec, ChangeEvent, RegistrySnapshot } from "./types.js";

export type ChangeListener = (snap: RegistrySnapshot, events: ChangeEvent[]) => void;

export interface Store {
  readonly kind: "memory" | "redis";
  start(): Promise<void>;
  close(): Promise<void>;
  /** The latest snapshot this replica has seen. */
  snapshot(): RegistrySnapshot;
  create(spec: AppSpec, clientSecret: string): Promise<AppRecord>;
  update(spec: AppSpec, clientSecret: string, expectedRevision: number): Promise<AppRecord>;
  /** Returns the registry revision of the delete. */
  delete(id: string, expectedRevision: number): Promise<number>;
  /**
   * Writes `ops` as one atomic write with one registry revision (every
   * written app gets it) and one change notification; a check that fails
   * refuses the whole batch, naming every failure (BatchError). Returns the
   * revision. Callers bound the batch size (api/apply.ts writes in chunks).
   */
  applyBatch(ops: BatchOp[]): Promise<number>;
  /**
   * Writes each chunk as applyBatch does (its own atomic write, revision and
   * notification: other replicas see one change per chunk), back to back,
   * stopping at the first refused chunk (the ones before it stay written).
   * This replica's snapshot follows once, after the last chunk (or the
   * refused one), so its listeners (the xDS snapshot cache) rebuild once per
   * apply, not once per chunk. `onChunk` after each written chunk.
   */
  applyBatches(chunks: BatchOp[][], onChunk?: (index: number, revision: number) => void): Promise<void>;
  onChange(l: ChangeListener): () => void;
}

export const EMPTY: RegistrySnapshot = Object.freeze({ revision: 0, apps: [] });

/**
 * Events that turn `prev` into `next`: from the ids `next` says changed when
 * it was made from `prev`, else by comparing every app.
 */
export function diff(prev: RegistrySnapshot, next: RegistrySnapshot): ChangeEvent[] {
  const out: ChangeEvent[] = [];
  const event = (id: string, b: AppRecord | undefined, a: AppRecord | undefined) => {
    if (a && !b) out.push({ type: "ADDED", id, app: a, revision: a.revision });
    else if (a && b && b.revision !== a.revision)
      out.push({ type: "MODIFIED", id, app: a, revision: a.revision });
    else if (b && !a) out.push({ type: "DELETED", id, revision: next.revision });
  };
  if (next.changes?.from === prev) {
    for (const id of next.changes.ids) event(id, findApp(prev.apps, id), findApp(next.apps, id));
  } else {
    const before = new Map(prev.apps.map((a) => [a.spec.id, a]));
    for (const a of next.apps) {
      event(a.spec.id, before.get(a.spec.id), a);
      before.delete(a.spec.id);
    }
    for (const [id, b] of before) event(id, b, undefined);
  }
  return out.sort((x, y) => x.revision - y.revision || x.id.localeCompare(y.id));
}

/**
 * A snapshot made from `from` by writing or deleting `ids`. The change set is
 * not enumerable: it says how the snapshot was made, not what it holds (a
 * snapshot read whole compares and serialises equal to it).
 */
export function changedSnapshot(
  revision: number,
  apps: AppRecord[],
  from: RegistrySnapshot,
  ids: Iterable<string>,
): RegistrySnapshot {
  const snap: RegistrySnapshot = { revision, apps };
  Object.defineProperty(snap, "changes", {
    value: { from, ids: new Set(ids) },
    writable: true,
    enumerable: false,
    configurable: true,
  });
  return snap;
}

/** Where `id` is in `apps` (sorted by id), or -(where it would go) - 1. */
export function indexOfApp(apps: readonly AppRecord[], id: string): number {
  let lo = 0;
  let hi = apps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = apps[mid].spec.id;
    if (m < id) lo = mid + 1;
    else if (m > id) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

/** The app `id` of a snapshot's list (sorted by id): a binary search, no index to build. */
export function findApp(apps: readonly AppRecord[], id: string): AppRecord | undefined {
  const i = indexOfApp(apps, id);
  return i >= 0 ? apps[i] : undefined;
}

/**
 * `apps` (sorted by id, not changed) with `written` put in and `deleted`
 * taken out: a copy with each change spliced in at its place, so a one-app
 * write costs a copy of the list's pointers, not a sort; many changes at once
 * are merged by one sort.
 */
export function patchApps(
  apps: readonly AppRecord[],
  written: readonly AppRecord[],
  deleted: Iterable<string>,
): AppRecord[] {
  const gone = new Set(deleted);
  if ((written.length + gone.size) * 16 > apps.length) {
    const byId = new Map(apps.map((a) => [a.spec.id, a]));
    for (const id of gone) byId.delete(id);
    for (const a of written) byId.set(a.spec.id, a);
    return sortApps([...byId.values()]);
  }
  const out = [...apps];
  for (const id of gone) {
    const i = indexOfApp(out, id);
    if (i >= 0) out.splice(i, 1);
  }
  for (const a of written) {
    const i = indexOfApp(out, a.spec.id);
    if (i >= 0) out[i] = a;
    else out.splice(-i - 1, 0, a);
  }
  return out;
}

/** Holds the current snapshot and notifies listeners when a newer one arrives. */
export class SnapshotHolder {
  private current: RegistrySnapshot = EMPTY;
  private readonly listeners = new Set<ChangeListener>();

  get(): RegistrySnapshot {
    return this.current;
  }

  /**
   * Installs `next` unless it is the revision we have; returns whether it did.
   * Reads are serialised, so a lower revision means the store was reset (a
   * Redis without persistence came back empty): follow it rather than serve
   * a registry that no longer exists.
   */
  offer(next: RegistrySnapshot): boolean {
    if (next.revision === this.current.revision && this.current !== EMPTY) return false;
    if (next.revision === 0 && this.current === EMPTY) {
      this.current = next;
      return false;
    }
    const prev = this.current;
    const events = diff(prev, next);
    // Only the latest step is kept: a chain of predecessors would keep every old snapshot alive.
    if (prev.changes) prev.changes = undefined;
    if (next.changes && next.changes.from !== prev) next.changes = undefined;
    this.current = next;
    for (const l of this.listeners) {
      try {
        l(next, events);
      } catch {
        // A failing listener must not stop the others; each logs its own errors.
      }
    }
    return true;
  }

  onChange(l: ChangeListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

export function sortApps(apps: AppRecord[]): AppRecord[] {
  return [...apps].sort((a, b) => (a.spec.id < b.spec.id ? -1 : a.spec.id > b.spec.id ? 1 : 0));
}
