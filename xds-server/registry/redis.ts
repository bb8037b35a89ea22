// Redis registry: every change is one Lua script (atomic: all checks run
// before any write; a batch of apps is one script), bumps a global revision
// and publishes it, so several control-plane replicas converge; a periodic
// revision poll covers missed pub/sub messages (e.g. across a reconnect). A
// replica reads only the apps written or deleted since the revision it holds,
// from the change log the writes keep (redis-scripts.ts), and everything
// again when the log does not cover that (after a reconnect, a write by an
// older replica, tombstones trimmed past it).
import { Cluster, Redis } from "ioredis";
import {
  alreadyExists,
  type BatchFailure,
  type BatchOp,
  batchError,
  notFound,
  routeFailure,
  staleRevision,
} from "./batch.js";
import { BATCH, READ } from "./redis-scripts.js";
import { clusterOptions, clusterPrefix, sentinelOptions } from "./redis-url.js";
import {
  type ChangeListener,
  changedSnapshot,
  findApp,
  patchApps,
  SnapshotHolder,
  type Store,
  sortApps,
} from "./store.js";
import { type AppRecord, type AppSpec, RegistryError, type RegistrySnapshot, routeKeys } from "./types.js";

interface Stored {
  spec: AppSpec;
  clientSecret: string;
  updatedAt: string;
}

export interface RedisStoreOptions {
  url: string;
  prefix?: string;
  pollMs?: number;
  /** The BFF route prefix, so apps cannot claim each other's BFF routes. */
  bffPrefix?: string;
  /** Deleted ids the change log remembers (default 10,000); a replica further behind reads everything. */
  tombstones?: number;
  onError?: (err: Error) => void;
}

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  private readonly holder = new SnapshotHolder();
  private readonly cmd: Redis | Cluster;
  private readonly sub: Redis | Cluster;
  private readonly keys: string[];
  private readonly channel: string;
  private readonly revKey: string;
  private timer?: NodeJS.Timeout;
  private reloading?: Promise<void>;
  private reloadAgain = false;
  /** Read everything on the next reload (after a reconnect: Redis may have been reset or restored). */
  private readAll = true;
  /** applyBatches runs: change notifications wait for its end (one reload then). */
  private bulk = 0;

  /** A change was announced (pub/sub, poll, reconnect): reload now, or after the bulk write. */
  private changed(): void {
    if (this.bulk === 0) void this.reload();
  }

  constructor(private readonly opts: RedisStoreOptions) {
    const cluster = clusterOptions(opts.url);
    const p = cluster ? clusterPrefix(opts.prefix ?? "sg:") : (opts.prefix ?? "sg:");
    this.keys = [
      "apps",
      "apprev",
      "created",
      "routes",
      "approutes",
      "rev",
      "log",
      "gone",
      "logrev",
      "logfrom",
    ].map((k) => p + k);
    this.revKey = `${p}rev`;
    this.channel = `${p}changes`;
    // No offline queue: a write while Redis is down fails fast (UNAVAILABLE)
    // instead of hanging the API call.
    const common = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true };
    const sentinel = sentinelOptions(opts.url);
    const client = (o: typeof common): Redis | Cluster =>
      cluster
        ? new Cluster(cluster.nodes, {
            ...cluster.options,
            lazyConnect: true,
            enableOfflineQueue: o.enableOfflineQueue,
            redisOptions: { ...cluster.options.redisOptions, maxRetriesPerRequest: 1 },
          })
        : sentinel
          ? new Redis({ ...sentinel, ...o })
          : new Redis(opts.url, o);
    this.cmd = client(common);
    this.sub = client({ ...common, enableOfflineQueue: true });
    for (const c of [this.cmd, this.sub]) c.on("error", (e: Error) => opts.onError?.(e));
  }

  async start(): Promise<void> {
    await this.cmd.connect();
    await this.sub.connect();
    this.sub.on("message", () => this.changed());
    // After a reconnect we may have missed messages: reload.
    const reconnected = () => {
      this.readAll = true;
      this.changed();
    };
    this.sub.on("ready", reconnected);
    this.cmd.on("ready", reconnected);
    await this.sub.subscribe(this.channel);
    await this.reload();
    this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 2000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.sub.disconnect();
    this.cmd.disconnect();
  }

  snapshot(): RegistrySnapshot {
    return this.holder.get();
  }

  onChange(l: ChangeListener): () => void {
    return this.holder.onChange(l);
  }

  private async poll(): Promise<void> {
    try {
      const rev = Number((await this.cmd.get(this.revKey)) ?? 0);
      if (rev !== this.snapshot().revision) this.changed();
    } catch (e) {
      this.opts.onError?.(e as Error);
    }
  }

  /**
   * Reads what changed since the snapshot this replica holds (READ: one
   * atomic script, so a consistent view) and installs the new snapshot;
   * coalesces concurrent calls. Unchanged apps keep their record objects.
   */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const held = this.snapshot();
          const known = this.readAll ? 0 : held.revision;
          const [apps, revs, created, , , rev, log, gone, logrev, logfrom] = this.keys;
          const res = (await this.cmd.eval(
            READ,
            8,
            apps,
            revs,
            created,
            rev,
            log,
            gone,
            logrev,
            logfrom,
            String(known),
          )) as [string, string, string[]?, string[]?, string[]?];
          if (res.length < 4) continue; // nothing new
          const revision = Number(res[0]);
          const base = Number(res[1]);
          const [listed = [], newer = []] = [res[2], res[3]];
          const records = new Map<string, AppRecord>();
          for (let i = 0; i < newer.length; i += 3) {
            const s = JSON.parse(newer[i + 1]) as Stored;
            records.set(newer[i], {
              spec: s.spec,
              clientSecret: s.clientSecret,
              updatedAt: s.updatedAt,
              revision: 0, // from the revision list
              createdAt: newer[i + 2] || s.updatedAt,
            });
          }
          this.readAll = false;
          if (res.length === 5 && base === held.revision) {
            // From the change log: the apps written and the ids deleted since `base`.
            const written: AppRecord[] = [];
            for (let i = 0; i < listed.length; i += 2)
              written.push({ ...records.get(listed[i])!, revision: Number(listed[i + 1]) });
            const deleted = res[4] ?? [];
            this.holder.offer(
              changedSnapshot(revision, patchApps(held.apps, written, deleted), held, [
                ...written.map((a) => a.spec.id),
                ...deleted,
              ]),
            );
            continue;
          }
          // Every app's revision; records of those newer than `base`. Unchanged apps keep their record objects.
          const list: AppRecord[] = [];
          let complete = true;
          for (let i = 0; i < listed.length; i += 2) {
            const id = listed[i];
            const r = Number(listed[i + 1]);
            const rec = records.get(id) ?? (base === 0 ? undefined : findApp(held.apps, id));
            if (!rec || (rec.revision !== 0 && rec.revision !== r)) {
              complete = false; // not held and not sent: read everything again
              break;
            }
            list.push(rec.revision === r ? rec : { ...rec, revision: r });
          }
          if (!complete) {
            this.readAll = true;
            this.reloadAgain = true;
            continue;
          }
          this.holder.offer({ revision, apps: sortApps(list) });
        } while (this.reloadAgain);
      } catch (e) {
        this.opts.onError?.(e as Error);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /**
   * Writes `ops` as one Lua script: one revision, one notification; every
   * check before any write, and every failure named when refused.
   */
  async applyBatch(ops: BatchOp[]): Promise<number> {
    const revision = await this.write(ops);
    await this.reload();
    return revision;
  }

  async applyBatches(
    chunks: BatchOp[][],
    onChunk?: (index: number, revision: number) => void,
  ): Promise<void> {
    this.bulk++;
    try {
      for (const [i, ops] of chunks.entries()) {
        if (ops.length) onChunk?.(i, await this.write(ops));
      }
    } finally {
      this.bulk--;
      if (this.bulk === 0) await this.reload();
    }
  }

  /** One BATCH script: the revision written, or every failure thrown. */
  private async write(ops: BatchOp[]): Promise<number> {
    if (ops.length === 0) return this.snapshot().revision;
    const now = new Date().toISOString();
    const args: string[] = [now, this.channel, String(this.opts.tombstones ?? 10_000)];
    for (const o of ops) {
      if (o.op === "delete") args.push("delete", o.id, String(o.expectedRevision), "", "[]");
      else
        args.push(
          o.op,
          o.spec.id,
          o.op === "update" ? String(o.expectedRevision) : "0",
          this.record(o.spec, o.clientSecret, now),
          JSON.stringify(routeKeys(o.spec, this.opts.bffPrefix)),
        );
    }
    let out: string[];
    try {
      out = (await this.cmd.eval(BATCH, this.keys.length, [...this.keys, ...args])) as string[];
    } catch (e) {
      throw new RegistryError("UNAVAILABLE", `registry store unavailable: ${(e as Error).message}`);
    }
    if (out[0] === "OK") return Number(out[1]);
    if (out[0] !== "FAIL")
      throw new RegistryError("UNAVAILABLE", `unexpected store reply ${JSON.stringify(out).slice(0, 200)}`);
    const failures: BatchFailure[] = [];
    for (let i = 1; i < out.length; i += 4) {
      const [kind, id, a, b] = out.slice(i, i + 4);
      if (kind === "ALREADY_EXISTS") failures.push(alreadyExists(id));
      else if (kind === "NOT_FOUND") failures.push(notFound(id));
      else if (kind === "REVISION") failures.push(staleRevision(id, Number(a), Number(b)));
      else failures.push(routeFailure(id, a, b));
    }
    throw batchError(failures, ops.length === 1);
  }

  private record(spec: AppSpec, clientSecret: string, updatedAt: string): string {
    const s: Stored = { spec, clientSecret, updatedAt };
    return JSON.stringify(s);
  }

  private find(id: string): AppRecord {
    const a = findApp(this.snapshot().apps, id);
    if (!a) throw new RegistryError("UNAVAILABLE", `app ${id} written but not visible yet`);
    return a;
  }

  async create(spec: AppSpec, clientSecret: string): Promise<AppRecord> {
    await this.applyBatch([{ op: "create", spec, clientSecret }]);
    return this.find(spec.id);
  }

  async update(spec: AppSpec, clientSecret: string, expectedRevision: number): Promise<AppRecord> {
    await this.applyBatch([{ op: "update", spec, clientSecret, expectedRevision }]);
    return this.find(spec.id);
  }

  delete(id: string, expectedRevision: number): Promise<number> {
    return this.applyBatch([{ op: "delete", id, expectedRevision }]);
  }
}
