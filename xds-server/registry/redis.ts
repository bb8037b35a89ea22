// Redis registry: every change is one Lua script (atomic: all checks run
// before any write), bumps a global revision and publishes it, so several
// control-plane replicas converge; a periodic revision poll covers missed
// pub/sub messages (e.g. across a reconnect).
import { Cluster, Redis } from "ioredis";
import { PUT } from "./redis-put.js";
import { clusterOptions, clusterPrefix, sentinelOptions } from "./redis-url.js";
import { type ChangeListener, SnapshotHolder, type Store, sortApps } from "./store.js";
import {
  type AppRecord,
  type AppSpec,
  RegistryError,
  type RegistrySnapshot,
  routeConflict,
  routeKeys,
} from "./types.js";

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

  constructor(private readonly opts: RedisStoreOptions) {
    const cluster = clusterOptions(opts.url);
    const p = cluster ? clusterPrefix(opts.prefix ?? "sg:") : (opts.prefix ?? "sg:");
    this.keys = ["apps", "apprev", "created", "routes", "approutes", "rev"].map((k) => p + k);
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
    this.sub.on("message", () => this.reload());
    // After a reconnect we may have missed messages: reload.
    this.sub.on("ready", () => this.reload());
    this.cmd.on("ready", () => this.reload());
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
      if (rev !== this.snapshot().revision) await this.reload();
    } catch (e) {
      this.opts.onError?.(e as Error);
    }
  }

  /** Reads the whole registry in one MULTI (a consistent view); coalesces concurrent calls. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const [apps, revs, created] = this.keys;
          const res = await this.cmd
            .multi()
            .get(this.revKey)
            .hgetall(apps)
            .hgetall(revs)
            .hgetall(created)
            .exec();
          if (!res) return;
          for (const [err] of res) if (err) throw err;
          const [rev, a, r, c] = res.map(([, v]) => v) as [
            string | null,
            Record<string, string>,
            Record<string, string>,
            Record<string, string>,
          ];
          const list: AppRecord[] = Object.entries(a).map(([id, json]) => {
            const s = JSON.parse(json) as Stored;
            return {
              spec: s.spec,
              clientSecret: s.clientSecret,
              updatedAt: s.updatedAt,
              revision: Number(r[id] ?? 0),
              createdAt: c[id] ?? s.updatedAt,
            };
          });
          this.holder.offer({ revision: Number(rev ?? 0), apps: sortApps(list) });
        } while (this.reloadAgain);
      } catch (e) {
        this.opts.onError?.(e as Error);
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  private async run(
    op: string,
    id: string,
    expected: number,
    rec: string,
    routes: string[],
  ): Promise<number> {
    let out: string[];
    try {
      out = (await this.cmd.eval(
        PUT,
        this.keys.length,
        ...this.keys,
        op,
        id,
        String(expected),
        rec,
        new Date().toISOString(),
        JSON.stringify(routes),
        this.channel,
      )) as string[];
    } catch (e) {
      throw new RegistryError("UNAVAILABLE", `registry store unavailable: ${(e as Error).message}`);
    }
    switch (out[0]) {
      case "OK": {
        const rev = Number(out[1]);
        await this.reload();
        return rev;
      }
      case "ALREADY_EXISTS":
        throw new RegistryError("ALREADY_EXISTS", `app ${id} already exists`, "id");
      case "NOT_FOUND":
        throw new RegistryError("NOT_FOUND", `app ${id} not found`, "id");
      case "REVISION":
        throw new RegistryError(
          "FAILED_PRECONDITION",
          `revision: app ${id} is at revision ${out[1]}, not ${expected}`,
          "revision",
        );
      case "ROUTE":
        throw routeConflict(out[1] ?? "", out[2] ?? "");
      default:
        throw new RegistryError("UNAVAILABLE", `unexpected store reply ${JSON.stringify(out)}`);
    }
  }

  private record(spec: AppSpec, clientSecret: string): string {
    const s: Stored = { spec, clientSecret, updatedAt: new Date().toISOString() };
    return JSON.stringify(s);
  }

  private find(id: string): AppRecord {
    const a = this.snapshot().apps.find((x) => x.spec.id === id);
    if (!a) throw new RegistryError("UNAVAILABLE", `app ${id} written but not visible yet`);
    return a;
  }

  async create(spec: AppSpec, clientSecret: string): Promise<AppRecord> {
    await this.run(
      "create",
      spec.id,
      0,
      this.record(spec, clientSecret),
      routeKeys(spec, this.opts.bffPrefix),
    );
    return this.find(spec.id);
  }

  async update(spec: AppSpec, clientSecret: string, expectedRevision: number): Promise<AppRecord> {
    await this.run(
      "update",
      spec.id,
      expectedRevision,
      this.record(spec, clientSecret),
      routeKeys(spec, this.opts.bffPrefix),
    );
    return this.find(spec.id);
  }

  delete(id: string, expectedRevision: number): Promise<number> {
    return this.run("delete", id, expectedRevision, "", []);
  }
}
