// The lowest layer (like go-control-plane's pkg/resource and pkg/cache/types):
// the xDS resource type URLs and push order, the snapshot types the cache
// builds and the ADS streams serve, and the contracts between them
// (SnapshotSource below the streams, AdsObserver above). It imports nothing
// of the project; everything else may import it (README, Layers).
import type { Any } from "@bufbuild/protobuf/wkt";

export const TYPE_URLS = {
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  /** ECDS: HTTP filter configurations the listener names in `config_discovery`. */
  ecds: "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  /** SDS: the node's workload certificate and the trust bundle (mTLS ADS only, identity/sds.ts). */
  secret: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
  /** VHDS (Delta only): a gateway's virtual hosts, one resource each, named `<route config>/<host>`. */
  vhds: "type.googleapis.com/envoy.config.route.v3.VirtualHost",
} as const;

/**
 * Make-before-break: clusters, endpoints, then filter configs (ECDS; they
 * name JWKS / wasm / ext_authz clusters), then listeners, then routes, then
 * the virtual hosts those routes load by VHDS.
 */
export const PUSH_ORDER = [
  TYPE_URLS.cluster,
  TYPE_URLS.endpoint,
  TYPE_URLS.ecds,
  TYPE_URLS.listener,
  TYPE_URLS.route,
  TYPE_URLS.vhds,
] as const;
export type TypeUrl = (typeof PUSH_ORDER)[number];

export const isTypeUrl = (t: string): t is TypeUrl => (PUSH_ORDER as readonly string[]).includes(t);

/**
 * What ADS serves, in push order: SDS secrets (per node, not translated: the
 * identity layer adds them) before the clusters and listeners that name them.
 */
export const ADS_ORDER: readonly string[] = [TYPE_URLS.secret, ...PUSH_ORDER];
export const isAdsType = (t: string): boolean => ADS_ORDER.includes(t);

/** Types where an empty subscription means "everything" (wildcard). */
export const WILDCARD_TYPES = new Set<string>([
  TYPE_URLS.cluster,
  TYPE_URLS.listener,
  // Envoy 1.40's VHDS subscription opens with no names over Delta ADS: every virtual host.
  TYPE_URLS.vhds,
]);

/** A proto3-JSON object. */
export type Json = { [k: string]: unknown };

export interface VersionedResource {
  name: string;
  version: string;
  any: Any;
  /** Ids of the apps this resource carries config for (NACK attribution). */
  apps: string[];
}

export interface TypeSnapshot {
  version: string;
  resources: Map<string, VersionedResource>;
  /**
   * The names whose version changed (or that came or went) since `from`, the
   * type's previous build: a stream that holds `from` compares only these.
   * Only the latest step is kept (cleared on the next build).
   */
  changes?: { from: TypeSnapshot; names: Set<string> };
}

/** App id -> revision (a Map will do; the cache looks them up in the registry's list). */
export interface AppRevisions {
  get(id: string): number | undefined;
  has(id: string): boolean;
}

export interface NodeSnapshot {
  /** Registry revision it was built from. */
  revision: number;
  /** Revision of each app it contains (NACK attribution). */
  appRevisions: AppRevisions;
  types: Map<string, TypeSnapshot>;
  /** Gateways over Delta: resolves hosts to VHDS resources for on-demand nodes. */
  virtualHosts?: VirtualHostResolver;
}

export interface NodeInfo {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  /** The SPIFFE id its client certificate proved (mTLS ADS); never set from the node's own claims. */
  peer?: string;
  /** The ADS flavour the node speaks (set by its stream): VHDS is served to Delta nodes only. */
  adsMode?: AdsMode;
}

/** What the ADS streams need from below: versioned snapshots per node, and word when they change. */
export interface SnapshotSource {
  snapshotFor(node: NodeInfo): NodeSnapshot;
  /** Called after the registry changed; streams then re-read snapshotFor(). */
  subscribe(cb: () => void): () => void;
}

export type AdsMode = "sotw" | "delta";

export interface AckNack {
  node: NodeInfo;
  typeUrl: string;
  mode: AdsMode;
  /** Snapshot whose resources were answered. */
  snapshot: NodeSnapshot;
  /** Resource names in the answered response. */
  names: string[];
  error?: string;
}

/** What the ADS streams tell those above them (the status board, metrics). */
export interface AdsObserver {
  onConnect?(node: NodeInfo, mode: AdsMode): void;
  onDisconnect?(node: NodeInfo, mode: AdsMode): void;
  onAck?(e: AckNack): void;
  onNack?(e: AckNack): void;
  onPush?(node: NodeInfo, typeUrl: string, mode: AdsMode, count: number): void;
  /** The node already runs this type as in `snapshot` (nothing to send): it is current. */
  onCurrent?(node: NodeInfo, typeUrl: string, mode: AdsMode, snapshot: NodeSnapshot): void;
}

/**
 * On-demand VHDS (Delta gateways): which virtual host serves a host Envoy
 * asked for (`<route config>/<authority>`, the request's lower-cased Host).
 */
export interface VirtualHostResolver {
  /** The virtual host serving `authority` (if any) and its host name; {} when it is no host name at all. */
  resolve(authority: string): { serving?: VersionedResource; hostname?: string };
  /** What a node that holds `hostname` gets: its virtual host (own or from apps on "*") and `hostname:<port>` ones. */
  held(hostname: string): VersionedResource[];
  /** Resources every on-demand node holds whatever it asked for (the anchor). */
  always: VersionedResource[];
  /** Clusters only routes name (apps' upstreams): an on-demand node gets them with a host that routes to them. */
  isRouteCluster(name: string): boolean;
  /** The route clusters a virtual host's routes name. */
  clustersOf(vhost: VersionedResource): string[];
}
