// Incremental (Delta) ADS stream. Per type we track the subscription and the
// version of every resource the node holds (as far as we sent it); a push
// carries only resources whose version differs plus removals. A NACKed
// resource keeps its sent version here, so it is not re-sent until it changes.
import { create } from "@bufbuild/protobuf";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  ResourceSchema,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import {
  ADS_ORDER,
  type NodeInfo,
  type NodeSnapshot,
  TYPE_URLS,
  type VersionedResource,
} from "../resource/types.js";
import { ClusterHold, dependentTypes, isWildcard, nextNonce } from "./common.js";
import { AdsStream } from "./stream.js";
import { VhdsSubscriptions, vhdsModeOf } from "./subscriptions.js";

interface Pending {
  names: string[];
  snapshot: NodeSnapshot;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** name -> version the node holds (by what we sent or it told us). */
  known: Map<string, string>;
  pending: Map<string, Pending>;
}

/**
 * VHDS subscribes by namespace (Envoy's `use_namespace_matching`): a
 * subscription to the route configuration's name asks for every virtual host
 * named `<route config>/<host>`.
 */
const namespaceOf = (name: string) => name.slice(0, Math.max(0, name.lastIndexOf("/")));

export class DeltaStream extends AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  private readonly types = new Map<string, TypeState>();
  private readonly hold = new ClusterHold();
  /** Clusters as last sent, for the hold computation. */
  private sentClusters = new Map<string, VersionedResource>();
  protected readonly mode = "delta";

  protected handle(req: DeltaDiscoveryRequest, node: NodeInfo): void {
    const t = req.typeUrl;
    this.vhds ??= new VhdsSubscriptions(vhdsModeOf(node), ROUTE_CONFIG_OF_VHDS);
    let st = this.types.get(t);
    if (!st) {
      st = {
        wildcard: isWildcard(t, req.resourceNamesSubscribe),
        names: new Set(),
        known: new Map(Object.entries(req.initialResourceVersions)),
        pending: new Map(),
      };
      this.types.set(t, st);
    }
    if (req.responseNonce) {
      const p = st.pending.get(req.responseNonce);
      st.pending.delete(req.responseNonce);
      if (p) {
        const e = {
          node,
          typeUrl: t,
          mode: "delta" as const,
          snapshot: p.snapshot,
          names: p.names,
        };
        if (req.errorDetail) this.obs.onNack?.({ ...e, error: req.errorDetail.message });
        else this.obs.onAck?.(e);
      }
    }
    if (t === TYPE_URLS.vhds) {
      this.vhds.subscribe(req.resourceNamesSubscribe);
      this.vhds.unsubscribe(req.resourceNamesUnsubscribe);
      // A host asked for brings the clusters it routes to first (on-demand nodes).
      this.vhds.holdAsked(this.snap!);
      const cds = this.types.get(TYPE_URLS.cluster);
      if (cds) this.maybeSend(TYPE_URLS.cluster, cds);
      this.maybeSend(t, st);
      this.releaseHold();
      return;
    }
    for (const n of req.resourceNamesSubscribe) {
      if (n === "*") st.wildcard = true;
      else if (!st.names.has(n)) {
        st.names.add(n);
        // A (re)subscription asks for the resource even if the node had it.
        if (!req.initialResourceVersions[n]) st.known.delete(n);
      }
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === "*") st.wildcard = false;
      else {
        st.names.delete(n);
        st.known.delete(n);
      }
    }
    this.maybeSend(t, st);
    this.releaseHold();
    // Hosts waiting for their clusters (an ACK of CDS or EDS may have made them ready).
    const vh = this.types.get(TYPE_URLS.vhds);
    if (this.vhds.pending && vh) this.maybeSend(TYPE_URLS.vhds, vh);
  }

  protected onSnapshot(next: NodeSnapshot): void {
    this.hold.retain(this.sentClusters, next.types.get(TYPE_URLS.cluster)?.resources ?? new Map());
    this.snap = next;
    this.vhds?.promote(next);
    for (const t of ADS_ORDER) {
      const st = this.types.get(t);
      if (st) this.maybeSend(t, st);
    }
    this.releaseHold();
  }

  private releaseHold(): void {
    if (this.hold.held.size === 0) return;
    for (const t of dependentTypes) if ((this.types.get(t)?.pending.size ?? 0) > 0) return;
    this.hold.held.clear();
    const st = this.types.get(TYPE_URLS.cluster);
    if (st) this.maybeSend(TYPE_URLS.cluster, st);
  }

  private maybeSend(t: string, st: TypeState): void {
    if (t === TYPE_URLS.vhds) {
      this.sendVhds(st);
      return;
    }
    const ts = this.snap!.types.get(t);
    let all = ts?.resources ?? new Map<string, VersionedResource>();
    if (t === TYPE_URLS.cluster) all = this.hold.view(all);
    // On-demand gateways get an app's upstream cluster with a host that routes to it.
    const resolver =
      t === TYPE_URLS.cluster && this.vhds?.mode === "on_demand" ? this.snap!.virtualHosts : undefined;
    const routeClusters = resolver ? this.vhds.routeClusters(this.snap!) : undefined;
    const wanted = (n: string) =>
      resolver?.isRouteCluster(n)
        ? routeClusters!.has(n) || st.names.has(n) || this.hold.held.has(n)
        : st.wildcard || st.names.has(n) || (t === TYPE_URLS.vhds && st.names.has(namespaceOf(n)));
    const changed: VersionedResource[] = [];
    for (const [n, r] of all) if (wanted(n) && st.known.get(n) !== r.version) changed.push(r);
    const removed: string[] = [];
    for (const n of st.known.keys()) if (!all.has(n) || !wanted(n)) removed.push(n);
    // First answer for a non-wildcard subscription to names we do not have:
    // still answer (empty) so the node's init does not wait for a timeout.
    const firstAnswer = st.pending.size === 0 && !this.answered.has(t);
    if (changed.length === 0 && removed.length === 0 && !firstAnswer) {
      if (st.pending.size === 0) this.obs.onCurrent?.(this.node!, t, "delta", this.snap!);
      return;
    }
    this.answered.add(t);
    for (const r of changed) st.known.set(r.name, r.version);
    for (const n of removed) st.known.delete(n);
    if (t === TYPE_URLS.cluster) this.sentClusters = new Map([...all].filter(([n]) => wanted(n)));
    const nonce = nextNonce();
    st.pending.set(nonce, { names: changed.map((r) => r.name), snapshot: this.snap! });
    const res = create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: ts?.version ?? "",
      typeUrl: t,
      nonce,
      resources: changed.map((r) =>
        create(ResourceSchema, { name: r.name, version: r.version, resource: r.any }),
      ),
      removedResources: removed,
    });
    this.call.write(res);
    this.obs.onPush?.(this.node!, t, "delta", changed.length + removed.length);
  }

  private readonly answered = new Set<string>();
  /** VHDS: the virtual hosts this node asked for (on demand) or all of them (eager). */
  private vhds!: VhdsSubscriptions;

  /** The node has settled (ACK or NACK) these clusters and their endpoints as they are now. */
  private running(clusters: string[]): boolean {
    const cds = this.types.get(TYPE_URLS.cluster);
    const eds = this.types.get(TYPE_URLS.endpoint);
    const now = (type: string, n: string) => this.snap!.types.get(type)?.resources.get(n)?.version;
    if (!cds || cds.pending.size > 0) return clusters.length === 0;
    for (const c of clusters) {
      if (cds.known.get(c) !== now(TYPE_URLS.cluster, c)) return false;
      const ep = now(TYPE_URLS.endpoint, c);
      if (ep !== undefined && (!eds || eds.pending.size > 0 || eds.known.get(c) !== ep)) return false;
    }
    return true;
  }

  private sendVhds(st: TypeState): void {
    const t = TYPE_URLS.vhds;
    const ts = this.snap!.types.get(t);
    const a = this.vhds.answer(this.snap!, ts?.resources ?? new Map(), st.known, (c) => this.running(c));
    const firstAnswer = st.pending.size === 0 && !this.answered.has(t);
    if (a.send.length === 0 && a.removed.length === 0 && !firstAnswer) {
      if (st.pending.size === 0) this.obs.onCurrent?.(this.node!, t, "delta", this.snap!);
      return;
    }
    this.answered.add(t);
    for (const r of a.sent) st.known.set(r.name, r.version);
    for (const n of a.removed) st.known.delete(n);
    const nonce = nextNonce();
    st.pending.set(nonce, { names: a.sent.map((r) => r.name), snapshot: this.snap! });
    this.call.write(
      create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo: ts?.version ?? "",
        typeUrl: t,
        nonce,
        resources: a.send,
        removedResources: a.removed,
      }),
    );
    this.obs.onPush?.(this.node!, t, "delta", a.send.length + a.removed.length);
  }
}

/** The gateway's RouteConfiguration, the namespace of its VHDS names (`<route config>/<host>`). */
const ROUTE_CONFIG_OF_VHDS = "sessiongate_gateway";
