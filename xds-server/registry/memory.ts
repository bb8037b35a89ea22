// In-memory registry for the demo and unit tests (one process, no replicas).
// Every write is a batch: all checks first, then one revision per batch.
import { applyRoutes, type BatchOp, batchError, checkBatch, routeTable } from "./batch.js";
import { type ChangeListener, EMPTY, SnapshotHolder, type Store, sortApps } from "./store.js";
import { type AppRecord, type AppSpec, RegistryError, type RegistrySnapshot } from "./types.js";

export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  private readonly holder = new SnapshotHolder();

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
    const byId = new Map(cur.apps.map((a) => [a.spec.id, a]));
    const routes = routeTable(cur.apps, this.bffPrefix);
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
            continue;
          }
          const createdAt = byId.get(o.spec.id)?.createdAt ?? now;
          byId.set(o.spec.id, {
            spec: o.spec,
            clientSecret: o.clientSecret,
            revision,
            createdAt,
            updatedAt: now,
          });
        }
        onChunk?.(i, revision);
      }
    } finally {
      if (revision !== cur.revision) this.holder.offer({ revision, apps: sortApps([...byId.values()]) });
    }
  }

  private record(id: string): AppRecord {
    const a = this.snapshot().apps.find((x) => x.spec.id === id);
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
