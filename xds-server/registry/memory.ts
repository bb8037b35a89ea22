// In-memory registry for the demo and unit tests (one process, no replicas).
// Every write is a batch: all checks first, then one revision per batch. The
// index by id and the route table live as long as the store and are updated
// per write, so a write costs O(its apps), not O(registry).
import { applyRoutes, type BatchOp, batchError, checkBatch } from "./batch.js";
import {
  type ChangeListener,
  changedSnapshot,
  EMPTY,
  findApp,
  patchApps,
  SnapshotHolder,
  type Store,
} from "./store.js";
import { type AppRecord, type AppSpec, RegistryError, type RegistrySnapshot } from "./types.js";

export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  private readonly holder = new SnapshotHolder();
  /** The current registry by id, and route key -> owning app id (what the snapshot holds). */
  private readonly byId = new Map<string, AppRecord>();
  private readonly routes = new Map<string, string>();

  /** `bffPrefix`: the BFF route prefix, so apps cannot claim each other's BFF routes. */
  constructor(private readonly bffPrefix = "") {}

  async start(): Promise<void> {
    this.holder.offer(EMPTY);
  }
  async close(): Promise<void> {}

  snapshot(): RegistrySnapshot {
    return this.holder.get();
  }

  onChange(l: ChangeListener): () => void {
    return this.holder.onChange(l);
  }

  async applyBatch(ops: BatchOp[]): Promise<number> {
    let revision = this.snapshot().revision;
    await this.applyBatches([ops], (_i, r) => {
      revision = r;
    });
    return revision;
  }

  async applyBatches(
    chunks: BatchOp[][],
    onChunk?: (index: number, revision: number) => void,
  ): Promise<void> {
    const cur = this.snapshot();
    const { byId, routes } = this;
    const written = new Map<string, AppRecord>();
    const deleted = new Set<string>();
    let revision = cur.revision;
    try {
      for (const [i, ops] of chunks.entries()) {
        if (ops.length === 0) continue;
        const failures = checkBatch(byId, routes, ops, this.bffPrefix);
        if (failures.length) throw batchError(failures, ops.length === 1);
        applyRoutes(byId, routes, ops, this.bffPrefix);
        revision++;
        const now = new Date().toISOString();
        for (const o of ops) {
          if (o.op === "delete") {
            byId.delete(o.id);
            written.delete(o.id);
            deleted.add(o.id);
            continue;
          }
          const createdAt = byId.get(o.spec.id)?.createdAt ?? now;
          const rec = { spec: o.spec, clientSecret: o.clientSecret, revision, createdAt, updatedAt: now };
          byId.set(o.spec.id, rec);
          written.set(o.spec.id, rec);
          deleted.delete(o.spec.id);
        }
        onChunk?.(i, revision);
      }
    } finally {
      if (revision !== cur.revision)
        this.holder.offer(
          changedSnapshot(revision, patchApps(cur.apps, [...written.values()], deleted), cur, [
            ...written.keys(),
            ...deleted,
          ]),
        );
    }
  }

  private record(id: string): AppRecord {
    const a = findApp(this.snapshot().apps, id);
    if (!a) throw new RegistryError("UNAVAILABLE", `app ${id} written but not visible`);
    return a;
  }

  async create(spec: AppSpec, clientSecret: string): Promise<AppRecord> {
    await this.applyBatch([{ op: "create", spec, clientSecret }]);
    return this.record(spec.id);
  }

  async update(spec: AppSpec, clientSecret: string, expectedRevision: number): Promise<AppRecord> {
    await this.applyBatch([{ op: "update", spec, clientSecret, expectedRevision }]);
    return this.record(spec.id);
  }

  delete(id: string, expectedRevision: number): Promise<number> {
    return this.applyBatch([{ op: "delete", id, expectedRevision }]);
  }
}
