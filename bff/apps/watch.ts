// Follows the xds-server's BffDirectory stream: a snapshot (ADDED... SYNCED),
// then changes. On any failure it reconnects with capped exponential backoff
// and full jitter, and the last known apps keep being served meanwhile; every
// reconnect starts from a fresh snapshot, so changes (deletes included) made
// while the stream was down are picked up.
import * as grpc from "@grpc/grpc-js";
import type { BffAppEvent } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { AppConfig, RegistryConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { fromDirectory } from "./convert.js";
import { connectDirectory, type DirectoryClient } from "./directory.js";
import type { AppSet } from "./set.js";

export interface WatchOptions {
  registry: RegistryConfig;
  /** The BFF's public prefix (part of every derived redirect URI). */
  prefix: string;
  allowInsecureIssuer: boolean;
}

export class RegistryWatch {
  private readonly client: DirectoryClient;
  private stream?: grpc.ClientReadableStream<BffAppEvent>;
  /** Apps of the current stream before its SYNCED marker. */
  private pending?: Map<string, AppConfig>;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private everSynced = false;
  /** Last warning about the stream being down: repeated failures log at most every 30 s. */
  private lastWarn = 0;

  constructor(
    private readonly opts: WatchOptions,
    private readonly apps: AppSet,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.client = connectDirectory(opts.registry);
  }

  /** True once a first full snapshot arrived (stays true while reconnecting). */
  get ready(): boolean {
    return this.everSynced;
  }

  start(): void {
    this.open();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.cancel();
    this.client.close();
  }

  private open(): void {
    const md = new grpc.Metadata();
    md.set("authorization", `Bearer ${this.opts.registry.token}`);
    const s = this.client.watchBffApps({}, md) as grpc.ClientReadableStream<BffAppEvent>;
    this.stream = s;
    this.pending = new Map();
    s.on("data", (e: BffAppEvent) => {
      if (this.stream === s) this.onEvent(e);
    });
    const lost = (why: string, code?: number) => {
      if (this.stream !== s) return;
      this.stream = undefined;
      s.cancel();
      this.metrics.registryConnected.set(0);
      if (!this.closed) this.retry(why, code);
    };
    s.on("error", (err: grpc.ServiceError) => lost(err.details || err.message, err.code));
    s.on("end", () => lost("stream ended"));
  }

  private retry(why: string, code?: number): void {
    const { backoffMinMs: min, backoffMaxMs: max } = this.opts.registry;
    const cap = Math.min(max, min * 2 ** Math.min(this.attempt, 20));
    const delay = Math.round(min + Math.random() * (cap - min));
    this.attempt++;
    const denied = code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED;
    const now = Date.now();
    const loud = this.attempt === 1 || now - this.lastWarn > 30_000;
    if (loud) this.lastWarn = now;
    this.log[loud ? (denied ? "error" : "warn") : "debug"](
      {
        address: this.opts.registry.address,
        err: why,
        code: code === undefined ? undefined : grpc.status[code],
        retryInMs: delay,
        servingApps: this.apps.registryIds().length,
      },
      "registry stream down; serving the last known apps",
    );
    this.timer = setTimeout(() => this.open(), delay);
    this.timer.unref();
  }

  private convert(e: BffAppEvent): AppConfig | undefined {
    if (!e.app) return undefined;
    try {
      return fromDirectory(e.app, this.opts.prefix, this.opts.allowInsecureIssuer);
    } catch (err) {
      // Fail closed: an app the BFF cannot serve correctly is not served.
      this.metrics.registryUpdates.inc({ type: "invalid" });
      this.log.error({ app: e.id, err: (err as Error).message }, "registry app refused");
      return undefined;
    }
  }

  private onEvent(e: BffAppEvent): void {
    const type = e.type.toLowerCase();
    if (e.type === "SYNCED") {
      const apps = this.pending ?? new Map();
      this.pending = undefined;
      this.apps.replace(apps);
      this.everSynced = true;
      this.attempt = 0;
      this.metrics.registryConnected.set(1);
      this.metrics.registryUpdates.inc({ type });
      this.log.info(
        { revision: e.revision.toString(), apps: [...apps.keys()] },
        "registry snapshot received; serving its apps",
      );
      return;
    }
    if (e.type !== "ADDED" && e.type !== "MODIFIED" && e.type !== "DELETED") return;
    const app = e.type === "DELETED" ? undefined : this.convert(e);
    if (this.pending) {
      if (app) this.pending.set(e.id, app);
      else this.pending.delete(e.id);
      return;
    }
    this.metrics.registryUpdates.inc({ type });
    if (app) this.apps.upsert(app);
    else this.apps.remove(e.id);
    this.log.info(
      { app: e.id, type: e.type, revision: e.revision.toString() },
      "registry app change applied",
    );
  }
}
