// State-of-the-World ADS stream (xDS protocol doc: "ACK/NACK and resource
// type instance version", "When to send an update"). Per type we keep the
// subscription, the last nonce sent and its version. A request whose
// response_nonce is not the latest is stale and ignored. A NACK keeps the
// node on its last good config and the NACKed version is not re-sent: only a
// different snapshot version (or subscription) triggers the next response.
import { create } from "@bufbuild/protobuf";
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import {
  ADS_ORDER,
  type NodeInfo,
  type NodeSnapshot,
  TYPE_URLS,
  type VersionedResource,
} from "../resource/types.js";
import { ClusterHold, dependentTypes, isWildcard, nextNonce, viewVersion } from "./common.js";
import { AdsStream } from "./stream.js";

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  nonce: string;
  /** Version and resources of the latest response; undefined before the first. */
  sentVersion?: string;
  sentResources: Map<string, VersionedResource>;
  sentSnapshot?: NodeSnapshot;
  inflight: boolean;
  nackedVersion?: string;
  subscriptionDirty: boolean;
}

export class SotwStream extends AdsStream<DiscoveryRequest, DiscoveryResponse> {
  private readonly types = new Map<string, TypeState>();
  private readonly hold = new ClusterHold();
  protected readonly mode = "sotw";

  protected handle(req: DiscoveryRequest, node: NodeInfo): void {
    const t = req.typeUrl;
    let st = this.types.get(t);
    const names = new Set(req.resourceNames.filter((n) => n !== "*"));
    const wildcard = isWildcard(t, req.resourceNames);
    if (!st) {
      st = {
        wildcard,
        names,
        nonce: "",
        sentResources: new Map(),
        inflight: false,
        subscriptionDirty: true,
      };
      this.types.set(t, st);
      // Reconnect: the node already runs this exact version (versions are
      // content hashes, identical across replicas and restarts): treat as ACKed.
      if (req.versionInfo && !req.responseNonce) {
        const target = this.target(t, st);
        if (target.version === req.versionInfo) {
          st.sentVersion = target.version;
          st.sentResources = target.resources;
          st.subscriptionDirty = false;
          return;
        }
      }
    } else {
      if (req.responseNonce !== st.nonce) return; // stale: superseded by a newer response
      if (st.inflight) {
        st.inflight = false;
        const e = {
          node,
          typeUrl: t,
          mode: "sotw" as const,
          snapshot: st.sentSnapshot!,
          // Listed when answered, not kept per stream (the resources are the snapshot's own map).
          names: [...st.sentResources.keys()],
        };
        if (req.errorDetail) {
          st.nackedVersion = st.sentVersion;
          this.obs.onNack?.({ ...e, error: req.errorDetail.message });
        } else {
          st.nackedVersion = undefined;
          this.obs.onAck?.(e);
        }
      }
      if (st.wildcard !== wildcard || !sameSet(st.names, names)) {
        st.wildcard = wildcard;
        st.names = names;
        st.subscriptionDirty = true;
      }
    }
    this.maybeSend(t);
    this.releaseHold();
  }

  protected onSnapshot(next: NodeSnapshot): void {
    const cds = this.types.get(TYPE_URLS.cluster);
    if (cds?.sentVersion !== undefined) {
      this.hold.retain(cds.sentResources, next.types.get(TYPE_URLS.cluster)?.resources ?? new Map());
    }
    this.snap = next;
    for (const t of ADS_ORDER) if (this.types.has(t)) this.maybeSend(t);
    this.releaseHold();
  }

  /** Drops held clusters once listeners and routes are settled. */
  private releaseHold(): void {
    if (this.hold.held.size === 0) return;
    for (const t of dependentTypes) if (this.types.get(t)?.inflight) return;
    this.hold.held.clear();
    if (this.types.has(TYPE_URLS.cluster)) this.maybeSend(TYPE_URLS.cluster);
  }

  private target(t: string, st: TypeState): { version: string; resources: Map<string, VersionedResource> } {
    const ts = this.snap!.types.get(t);
    let all = ts?.resources ?? new Map<string, VersionedResource>();
    let version = ts?.version ?? "";
    if (t === TYPE_URLS.cluster) {
      version = viewVersion(version, this.hold.held);
      all = this.hold.view(all);
    }
    if (st.wildcard) return { version, resources: all };
    const sub = new Map<string, VersionedResource>();
    for (const n of [...st.names].sort()) {
      const r = all.get(n);
      if (r) sub.set(n, r);
    }
    return { version, resources: sub };
  }

  private maybeSend(t: string): void {
    const st = this.types.get(t)!;
    const target = this.target(t, st);
    if (!st.subscriptionDirty) {
      if (target.version === st.sentVersion) {
        if (!st.inflight && st.nackedVersion === undefined)
          this.obs.onCurrent?.(this.node!, t, "sotw", this.snap!);
        return;
      }
      if (target.version === st.nackedVersion) return; // never re-send what the node refused
    }
    st.subscriptionDirty = false;
    st.nonce = nextNonce();
    st.sentVersion = target.version;
    st.sentResources = target.resources;
    st.sentSnapshot = this.snap;
    st.inflight = true;
    const { version, resources } = target;
    const nonce = st.nonce;
    this.send(() =>
      create(DiscoveryResponseSchema, {
        versionInfo: version,
        typeUrl: t,
        nonce,
        resources: [...resources.values()].map((r) => r.any),
      }),
    );
    this.obs.onPush?.(this.node!, t, "sotw", target.resources.size);
  }
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}
