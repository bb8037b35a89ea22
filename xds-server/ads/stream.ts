// The lifecycle both ADS flavours share: the gRPC stream's events, the node
// named by the first request, the snapshot subscription, and closing once.
// SotW and Delta differ only in how they answer requests and snapshot changes.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { Node } from "../../protos/gen/envoy/config/core/v3/base_pb.js";
import {
  type AdsMode,
  type AdsObserver,
  isAdsType,
  type NodeInfo,
  type NodeSnapshot,
  type SnapshotSource,
} from "../resource/types.js";
import { type NodeGate, trustClaims } from "./auth.js";
import { nodeInfo } from "./common.js";

/** Responses per stream serialized and handed to grpc-js before the previous ones are flushed. */
export const MAX_IN_FLIGHT = 2;

export abstract class AdsStream<Req extends { node?: Node; typeUrl: string }, Res> {
  protected node?: NodeInfo;
  protected snap?: NodeSnapshot;
  protected closed = false;
  private unsubscribe?: () => void;
  /**
   * Responses not yet handed to grpc-js, built only when written: a node that
   * reads slowly (or not at all) keeps references to shared resources here,
   * never serialized bytes or per-stream message copies.
   */
  private readonly outbox: (() => Res)[] = [];
  /** Responses written but not yet flushed to the HTTP/2 stream. */
  private inFlight = 0;
  /** Set by the subclass; read only once requests arrive (after construction). */
  protected abstract readonly mode: AdsMode;

  constructor(
    protected readonly call: ServerDuplexStream<Req, Res>,
    protected readonly source: SnapshotSource,
    protected readonly obs: AdsObserver,
    protected readonly log: { warn: (o: object, m: string) => void },
    private readonly gate: NodeGate = trustClaims,
  ) {
    call.on("data", (req: Req) => this.receive(req));
    call.on("end", () => this.close());
    call.on("error", () => this.close());
    call.on("cancelled", () => this.close());
  }

  /** Answers a request for a supported type from an identified node. */
  protected abstract handle(req: Req, node: NodeInfo): void;

  /** Called with a snapshot different from `this.snap`; must adopt it. */
  protected abstract onSnapshot(next: NodeSnapshot): void;

  /**
   * Queues a response, built when written. At most MAX_IN_FLIGHT responses
   * per stream are serialized and waiting for the HTTP/2 stream (its flow
   * control holds the write callback of a node that does not read), so the
   * server's buffered bytes per stream stay bounded by a few responses.
   */
  protected send(build: () => Res): void {
    this.outbox.push(build);
    this.pump();
  }

  /** Responses queued or in flight (tests, metrics). */
  get backlog(): number {
    return this.outbox.length + this.inFlight;
  }

  private pump(): void {
    while (!this.closed && this.inFlight < MAX_IN_FLIGHT && this.outbox.length > 0) {
      const res = this.outbox.shift()!();
      this.inFlight += 1;
      try {
        this.call.write(res, () => {
          this.inFlight -= 1;
          this.pump();
        });
      } catch {
        this.close();
      }
    }
  }

  protected close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    this.outbox.length = 0;
    if (this.node) this.obs.onDisconnect?.(this.node, this.mode);
    try {
      this.call.end();
    } catch {
      // already closed
    }
  }

  private receive(req: Req): void {
    if (this.closed) return;
    if (!this.node) {
      if (!req.node) {
        this.log.warn(
          { typeUrl: req.typeUrl, mode: this.mode },
          "first ADS request without node; closing stream",
        );
        this.close();
        return;
      }
      const verdict = this.gate(nodeInfo(req.node), () => this.call.getAuthContext());
      if ("code" in verdict) {
        this.log.warn(
          { node: req.node.id, cluster: req.node.cluster, mode: this.mode, reason: verdict.reason },
          "ADS node refused",
        );
        this.closed = true;
        // Ends the call with this status (grpc-js turns an emitted error into the trailers).
        this.call.emit("error", { code: verdict.code, details: verdict.reason });
        return;
      }
      this.node = { ...verdict.node, adsMode: this.mode };
      this.snap = this.source.snapshotFor(this.node);
      this.obs.onConnect?.(this.node, this.mode);
      this.unsubscribe = this.source.subscribe(() => this.refresh());
    }
    if (!isAdsType(req.typeUrl)) {
      this.log.warn({ typeUrl: req.typeUrl, node: this.node.id }, "unsupported type requested");
      return;
    }
    this.handle(req, this.node);
  }

  private refresh(): void {
    if (this.closed || !this.node) return;
    const next = this.source.snapshotFor(this.node);
    if (next !== this.snap) this.onSnapshot(next);
  }
}
