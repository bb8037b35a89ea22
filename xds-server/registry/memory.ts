// In-memory registry for the demo and unit tests (one process, no replicas).
import { type ChangeListener, EMPTY, SnapshotHolder, type Store, sortApps } from "./store.js";
import {
  type AppRecord,
  type AppSpec,
  RegistryError,
  type RegistrySnapshot,
  routeConflict,
  routeKeys,
} from "./types.js";

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

  private checkRoutes(spec: AppSpec, apps: AppRecord[]): void {
    const mine = new Set(routeKeys(spec, this.bffPrefix));
    for (const a of apps) {
      if (a.spec.id === spec.id) continue;
      for (const k of routeKeys(a.spec, this.bffPrefix)) {
        if (mine.has(k)) throw routeConflict(k, a.spec.id);
      }
    }
  }

  private commit(apps: AppRecord[], revision: number): void {
    this.holder.offer({ revision, apps: sortApps(apps) });
  }

  async create(spec: AppSpec, clientSecret: string): Promise<AppRecord> {
    const cur = this.snapshot();
    if (cur.apps.some((a) => a.spec.id === spec.id))
      throw new RegistryError("ALREADY_EXISTS", `app ${spec.id} already exists`, "id");
    this.checkRoutes(spec, cur.apps);
    const revision = cur.revision + 1;
    const now = new Date().toISOString();
    const rec: AppRecord = { spec, clientSecret, revision, createdAt: now, updatedAt: now };
    this.commit([...cur.apps, rec], revision);
    return rec;
  }

  async update(spec: AppSpec, clientSecret: string, expectedRevision: number): Promise<AppRecord> {
    const cur = this.snapshot();
    const old = cur.apps.find((a) => a.spec.id === spec.id);
    if (!old) throw new RegistryError("NOT_FOUND", `app ${spec.id} not found`, "id");
    if (old.revision !== expectedRevision) {
      throw new RegistryError(
        "FAILED_PRECONDITION",
        `revision: app ${spec.id} is at revision ${old.revision}, not ${expectedRevision}`,
        "revision",
      );
    }
    this.checkRoutes(spec, cur.apps);
    const revision = cur.revision + 1;
    const rec: AppRecord = {
      spec,
      clientSecret,
      revision,
      createdAt: old.createdAt,
      updatedAt: new Date().toISOString(),
    };
    this.commit([...cur.apps.filter((a) => a !== old), rec], revision);
    return rec;
  }

  async delete(id: string, expectedRevision: number): Promise<number> {
    const cur = this.snapshot();
    const old = cur.apps.find((a) => a.spec.id === id);
    if (!old) throw new RegistryError("NOT_FOUND", `app ${id} not found`, "id");
    if (expectedRevision && old.revision !== expectedRevision) {
      throw new RegistryError(
        "FAILED_PRECONDITION",
        `revision: app ${id} is at revision ${old.revision}, not ${expectedRevision}`,
        "revision",
      );
    }
    const revision = cur.revision + 1;
    this.commit(
      cur.apps.filter((a) => a !== old),
      revision,
    );
    return revision;
  }
}
