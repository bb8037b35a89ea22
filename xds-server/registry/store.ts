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

/** Events that turn `prev` into `next`. */
export function diff(prev: RegistrySnapshot, next: RegistrySnapshot): ChangeEvent[] {
  const before = new Map(prev.apps.map((a) => [a.spec.id, a]));
  const after = new Map(next.apps.map((a) => [a.spec.id, a]));
  const out: ChangeEvent[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    if (!b) out.push({ type: "ADDED", id, app: a, revision: a.revision });
    else if (b.revision !== a.revision) out.push({ type: "MODIFIED", id, app: a, revision: a.revision });
  }
  for (const id of before.keys())
    if (!after.has(id)) out.push({ type: "DELETED", id, revision: next.revision });
  return out.sort((x, y) => x.revision - y.revision || x.id.localeCompare(y.id));
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
    const events = diff(this.current, next);
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
