// What the ADS protocol layer needs from below: versioned snapshots per node,
// and a way to be told when they change. It knows nothing of apps.
import type { Any } from "@bufbuild/protobuf/wkt";

export const TYPE_URLS = {
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  /** ECDS: HTTP filter configurations the listener names in `config_discovery`. */
  ecds: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  /** SDS: the node's workload certificate and the trust bundle (mTLS ADS only). */
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
} as const;

/**
 * Make-before-break: secrets (clusters and listeners name them), clusters,
 * endpoints, then filter configs (ECDS; they name JWKS / wasm / ext_authz
 * clusters), then listeners, then routes.
 */
export const ORDER: string[] = [
  TYPE_URLS.secret,
  TYPE_URLS.cluster,
  TYPE_URLS.endpoint,
  TYPE_URLS.ecds,
  TYPE_URLS.listener,
  TYPE_URLS.route,
];

/** Types where an empty subscription means "everything" (wildcard). */
export const WILDCARD_TYPES = new Set<string>([TYPE_URLS.cluster, TYPE_URLS.listener]);

export interface VersionedResource {
  name: string;
  version: string;
  any: Any;
  apps: string[];
}

export interface TypeSnapshot {
  version: string;
  resources: Map<string, VersionedResource>;
}

export interface NodeSnapshot {
  /** Registry revision it was built from. */
  revision: number;
  /** Revision of each app it contains (NACK attribution). */
  appRevisions: Map<string, number>;
  types: Map<string, TypeSnapshot>;
}

export interface NodeInfo {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  /** The SPIFFE id its client certificate proved (mTLS ADS); never set from the node's own claims. */
  peer?: string;
}

export interface SnapshotSource {
  snapshotFor(node: NodeInfo): NodeSnapshot;
  /** Called after the registry changed; streams then re-read snapshotFor(). */
  subscribe(cb: () => void): () => void;
}

export interface AckNack {
  node: NodeInfo;
  typeUrl: string;
  mode: "sotw" | "delta";
  /** Snapshot whose resources were answered. */
  snapshot: NodeSnapshot;
  /** Resource names in the answered response. */
  names: string[];
  error?: string;
}

export interface AdsObserver {
  onConnect?(node: NodeInfo, mode: "sotw" | "delta"): void;
  onDisconnect?(node: NodeInfo, mode: "sotw" | "delta"): void;
  onAck?(e: AckNack): void;
  onNack?(e: AckNack): void;
  onPush?(node: NodeInfo, typeUrl: string, mode: "sotw" | "delta", count: number): void;
  /** The node already runs this type as in `snapshot` (nothing to send): it is current. */
  onCurrent?(node: NodeInfo, typeUrl: string, mode: "sotw" | "delta", snapshot: NodeSnapshot): void;
}
