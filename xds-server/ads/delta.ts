// Incremental (Delta) ADS stream. Per type we track the subscription and the
// version of every resource the node holds (as far as we sent it: ads/known.ts,
// the snapshot's own map plus what differs from it); a push carries only
// resources whose version differs plus removals. A NACKed resource keeps its
// sent version here, so it is not re-sent until it changes.
import { create } from "@bufbuild/protobuf";
import {
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type Resource,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import {
  ADS_ORDER,
  type NodeInfo,
  type NodeSnapshot,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../resource/types.js";
import { batches, ClusterHold, changedSince, dependentTypes, isWildcard, nextNonce } from "./common.js";
import { diffAll, diffNames, KnownVersions } from "./known.js";
import { AdsStream } from "./stream.js";
import { type VhdsAnswer, VhdsSubscriptions, vhdsModeOf } from "./subscriptions.js";
import { deltaResource } from "./wire.js";

interface Pending {
  names: string[];
  snapshot: NodeSnapshot;
  /** The answer (maybeSend) this part belongs to, numbered per type. */
  answer: number;
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** name -> version the node holds (by what we sent or it told us). */
  known: KnownVersions;
  /** The type as of the snapshot it was last brought up to date with (what `changes` are relative to). */
  at?: TypeSnapshot;
  /** Written responses not yet ACKed or NACKed, by nonce, oldest first. */
  pending: Map<string, Pending>;
  /** Responses queued but not yet written (they get their nonce when written). */
  unwritten: number;
  /** Answers started so far. */
  answers: number;
}

/** Sent and not yet settled by the node (written and un-ACKed, or still queued). */
const outstanding = (st: TypeState) => st.pending.size + st.unwritten;

/** A type the snapshot does not have: no resources (shared, never written). */
const NONE = new Map<string, VersionedResource>();

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
  /** Set when sentClusters is a snapshot's own map (shared: read, never written). */
  private sharedSent?: Map<string, VersionedResource>;
  protected readonly mode = "delta";

  protected handle(req: DeltaDiscoveryRequest, node: NodeInfo): void {
    const t = req.typeUrl;
    this.vhds ??= new VhdsSubscriptions(vhdsModeOf(node), ROUTE_CONFIG_OF_VHDS);
    let st = this.types.get(t);
    const fresh = !st;
    if (!st) {
      st = {
        wildcard: isWildcard(t, req.resourceNamesSubscribe),
        names: new Set(),
        known: new KnownVersions(req.initialResourceVersions),
        pending: new Map(),
        unwritten: 0,
        answers: 0,
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
    // A plain ACK/NACK of a type already brought up to date with this snapshot has
    // nothing new to compare (only "is it current" to report); a new type or a
    // subscription change compares everything.
    const resubscribed =
      fresh || req.resourceNamesSubscribe.length > 0 || req.resourceNamesUnsubscribe.length > 0;
    if (t === TYPE_URLS.vhds) {
      this.vhds.subscribe(req.resourceNamesSubscribe);
      this.vhds.unsubscribe(req.resourceNamesUnsubscribe);
      // A host asked for brings the clusters it routes to first (on-demand nodes):
      // CDS is up to date with this snapshot but for the route clusters that moved
      // in or out with the hosts held (maybeSend adds those), so only they are compared.
      this.vhds.holdAsked(this.snap!);
      const cds = this.types.get(TYPE_URLS.cluster);
      if (cds) this.maybeSend(TYPE_URLS.cluster, cds);
      this.maybeSend(t, st, resubscribed);
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
    this.maybeSend(t, st, resubscribed);
    this.releaseHold();
    // Hosts waiting for their clusters (an ACK of CDS or EDS may have made them ready).
    const vh = this.types.get(TYPE_URLS.vhds);
    if (this.vhds.pending && vh) this.maybeSend(TYPE_URLS.vhds, vh, true);
  }

  protected onSnapshot(next: NodeSnapshot): void {
    const cds = next.types.get(TYPE_URLS.cluster);
    const cdsChanged = changedSince(this.snap?.types.get(TYPE_URLS.cluster), cds);
    this.hold.retain(this.sentClusters, cds?.resources ?? NONE, cdsChanged);
    this.snap = next;
    this.vhds?.promote(next);
    for (const t of ADS_ORDER) {
      const st = this.types.get(t);
      if (st) this.maybeSend(t, st);
    }
    this.releaseHold();
  }

  /** What the stream keeps for a type beyond the shared snapshot (tests, benchmarks). */
  stateOf(typeUrl: string): { shared: boolean; exceptions: number; pending: number } | undefined {
    const st = this.types.get(typeUrl);
    if (!st) return undefined;
    return { shared: st.known.shared, exceptions: st.known.exceptions, pending: outstanding(st) };
  }

  private releaseHold(): void {
    if (this.hold.held.size === 0) return;
    for (const t of dependentTypes) {
      const st = this.types.get(t);
      if (st && outstanding(st) > 0) return;
    }
    this.hold.held.clear();
    const st = this.types.get(TYPE_URLS.cluster);
    if (st) this.maybeSend(TYPE_URLS.cluster, st, true);
  }

  /**
   * Brings the type up to date with the current snapshot. Unless `full`, a
   * type brought up to date with the snapshot the current one was built from
   * compares only the names that changed between the two (changedSince); else
   * (a new or changed subscription, held clusters, a stream behind by more
   * than one build) every resource and every held name is compared.
   */
  private maybeSend(t: string, st: TypeState, full = false): void {
    const ts = this.snap!.types.get(t);
    let only = full ? undefined : changedSince(st.at, ts);
    if (t === TYPE_URLS.vhds) {
      this.sendVhds(st, ts, only);
      return;
    }
    const base = ts?.resources ?? NONE;
    let all = base;
    const held = t === TYPE_URLS.cluster && this.hold.held.size > 0;
    if (t === TYPE_URLS.cluster) all = this.hold.view(all);
    // On-demand gateways get an app's upstream cluster with a host that routes to it.
    const resolver =
      t === TYPE_URLS.cluster && this.vhds?.mode === "on_demand" ? this.snap!.virtualHosts : undefined;
    const routeClusters = resolver ? this.vhds.routeClusters(this.snap!) : undefined;
    if (t === TYPE_URLS.cluster) only = this.withRouteClusterMoves(only, routeClusters);
    const wanted = (n: string) =>
      resolver?.isRouteCluster(n)
        ? routeClusters!.has(n) || st.names.has(n) || this.hold.held.has(n)
        : st.wildcard || st.names.has(n) || (t === TYPE_URLS.vhds && st.names.has(namespaceOf(n)));
    if (held) only = undefined;
    // What the node holds, re-expressed against this snapshot's map (O(changed names)).
    if (only) st.known.rebase(base, only);
    const { changed, removed } = only
      ? diffNames(st.known, all, wanted, only)
      : diffAll(st.known, all, wanted);
    // First answer for a non-wildcard subscription to names we do not have:
    // still answer (empty) so the node's init does not wait for a timeout.
    const firstAnswer = outstanding(st) === 0 && !this.answered.has(t);
    const send = changed.length > 0 || removed.length > 0 || firstAnswer;
    if (send) {
      this.answered.add(t);
      for (const r of changed) st.known.set(r.name, r.version);
      for (const n of removed) st.known.delete(n);
    }
    // After a full comparison: re-expressed against this snapshot's map (O(resources), as the comparison).
    if (!only) st.known.rebaseAll(base);
    st.at = ts;
    if (!send) {
      if (outstanding(st) === 0) this.obs.onCurrent?.(this.node!, t, "delta", this.snap!);
      return;
    }
    if (t === TYPE_URLS.cluster) {
      // A wildcard node without held clusters holds exactly the snapshot's map: share it, never copy per node.
      // (On-demand nodes hold only the route clusters of their hosts.)
      if (st.wildcard && !held && !resolver) this.sentClusters = this.sharedSent = all;
      else if (held || !only || this.sharedSent) {
        this.sentClusters = new Map([...all].filter(([n]) => wanted(n)));
        this.sharedSent = undefined;
      } else {
        for (const r of changed) this.sentClusters.set(r.name, r);
        for (const n of removed) this.sentClusters.delete(n);
      }
    }
    const version = ts?.version ?? "";
    const answer = ++st.answers;
    for (const [i, part] of batches(changed, (r) => r.any.value.length).entries())
      this.sendDelta(
        st,
        t,
        version,
        answer,
        part.map((r) => r.name),
        i === 0 ? removed : [],
        () => part.map(deltaResource),
      );
    this.obs.onPush?.(this.node!, t, "delta", changed.length + removed.length);
  }

  /**
   * One response of a (possibly split) answer, built when the stream writes
   * it: its nonce and pending entry are made then too (so each part is ACKed
   * or NACKed on its own, and a part still queued is never forgotten before
   * it was even sent).
   */
  private sendDelta(
    st: TypeState,
    t: string,
    version: string,
    answer: number,
    names: string[],
    removed: string[],
    resources: () => Resource[],
  ): void {
    const snapshot = this.snap!;
    st.unwritten += 1;
    this.send(() => {
      st.unwritten -= 1;
      const nonce = nextNonce();
      st.pending.set(nonce, { names, snapshot, answer });
      forgetOldAnswers(st.pending, answer);
      return create(DeltaDiscoveryResponseSchema, {
        systemVersionInfo: version,
        typeUrl: t,
        nonce,
        resources: resources(),
        removedResources: removed,
      });
    });
  }

  private readonly answered = new Set<string>();
  /** VHDS: the virtual hosts this node asked for (on demand) or all of them (eager). */
  private vhds!: VhdsSubscriptions;

  /** The node has settled (ACK or NACK) these clusters and their endpoints as they are now. */
  private running(clusters: string[]): boolean {
    const cds = this.types.get(TYPE_URLS.cluster);
    const eds = this.types.get(TYPE_URLS.endpoint);
    const now = (type: string, n: string) => this.snap!.types.get(type)?.resources.get(n)?.version;
    if (!cds || outstanding(cds) > 0) return clusters.length === 0;
    for (const c of clusters) {
      if (cds.known.get(c) !== now(TYPE_URLS.cluster, c)) return false;
      const ep = now(TYPE_URLS.endpoint, c);
      if (ep !== undefined && (!eds || outstanding(eds) > 0 || eds.known.get(c) !== ep)) return false;
    }
    return true;
  }

  /**
   * Route clusters of an on-demand node's hosts as of the last CDS diff: a
   * host held, dropped or re-pointed at other apps changes which clusters it
   * gets without changing those clusters, so the ones that moved in or out of
   * the set are compared too.
   */
  private lastRouteClusters?: Set<string>;

  private withRouteClusterMoves(
    only: ReadonlySet<string> | undefined,
    routeClusters: Set<string> | undefined,
  ): ReadonlySet<string> | undefined {
    const last = this.lastRouteClusters;
    this.lastRouteClusters = routeClusters;
    if (!only || (!last && !routeClusters)) return only;
    if (!last || !routeClusters) return undefined; // on-demand filtering started or stopped: compare all
    const moved = [...routeClusters].filter((c) => !last.has(c));
    for (const c of last) if (!routeClusters.has(c)) moved.push(c);
    return moved.length ? new Set([...only, ...moved]) : only;
  }

  /**
   * VHDS goes through the node's subscriptions (cache/vhds-resolve.ts,
   * ads/subscriptions.ts), which compare everything an on-demand node holds
   * (its few hosts). An eager node holds every virtual host: with nothing
   * asked or waiting, only the changed names are compared, as for other types.
   */
  private sendVhds(st: TypeState, ts: TypeSnapshot | undefined, changed?: ReadonlySet<string>): void {
    const t = TYPE_URLS.vhds;
    const base = ts?.resources ?? NONE;
    const all = base;
    const only = this.vhds.mode === "eager" && !this.vhds.pending ? changed : undefined;
    if (only) st.known.rebase(base, only);
    const a = only
      ? eagerAnswer(diffNames(st.known, all, () => true, only))
      : this.vhds.answer(this.snap!, all, st.known, (c) => this.running(c));
    const firstAnswer = outstanding(st) === 0 && !this.answered.has(t);
    const send = a.send.length > 0 || a.removed.length > 0 || firstAnswer;
    if (send) {
      this.answered.add(t);
      for (const r of a.sent) st.known.set(r.name, r.version);
      for (const n of a.removed) st.known.delete(n);
    }
    // An on-demand node's few hosts stay listed on their own: re-expressing them is O(virtual hosts).
    if (!only && (this.vhds.mode === "eager" || st.known.shared)) st.known.rebaseAll(base);
    st.at = ts;
    if (!send) {
      if (outstanding(st) === 0) this.obs.onCurrent?.(this.node!, t, "delta", this.snap!);
      return;
    }
    const version = ts?.version ?? "";
    const answer = ++st.answers;
    // a.send[i] is a.sent[i] as a Resource (aliases included); the rest are "not found" answers (no body).
    const items = a.send.map((res, i) => ({ res, r: a.sent[i] as VersionedResource | undefined }));
    for (const [i, part] of batches(items, (p) => p.r?.any.value.length ?? 0).entries()) {
      const names = part.flatMap((p) => (p.r ? [p.r.name] : []));
      this.sendDelta(st, t, version, answer, names, i === 0 ? a.removed : [], () => part.map((p) => p.res));
    }
    this.obs.onPush?.(this.node!, t, "delta", a.send.length + a.removed.length);
  }
}

/**
 * Answers whose un-ACKed responses are remembered per type (for ACK/NACK
 * attribution): each holds the snapshot it was cut from, so a node that stops
 * ACKing while the registry changes must not make the server keep every
 * snapshot. Every part of the newest MAX_PENDING answers is kept (a large sync
 * is many parts of one snapshot); older ones are forgotten: their late ACK or
 * NACK is then not attributed (the node's newer responses still are), and the
 * hold on removed clusters still waits for the newest.
 */
export const MAX_PENDING = 16;

/** Pending entries are in write order, so answers in ascending order: the oldest are first. */
function forgetOldAnswers(pending: Map<string, Pending>, newest: number): void {
  for (const [nonce, p] of pending) {
    if (p.answer > newest - MAX_PENDING) return;
    pending.delete(nonce);
  }
}

/** The gateway's RouteConfiguration, the namespace of its VHDS names (`<route config>/<host>`). */
const ROUTE_CONFIG_OF_VHDS = "sessiongate_gateway";

/** An eager node's VHDS answer from a diff (no aliases: nothing was asked). */
function eagerAnswer({ changed, removed }: { changed: VersionedResource[]; removed: string[] }): VhdsAnswer {
  return {
    send: changed.map(deltaResource),
    sent: changed,
    removed,
  };
}
