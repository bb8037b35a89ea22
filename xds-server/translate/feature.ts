// The interface every translator feature implements (jwt_authn, ext_authz,
// session-to-token, public paths, ...), after Envoy Gateway's
// internal/xds/translator/httpfilters.go: listeners.ts, routes.ts and index.ts
// loop over the ordered list in features.ts and never name a feature. Each
// hook is optional; a feature implements the ones it has something to add to.
import type { AppRecord, AppSpec } from "../registry/types.js";
import type { Json, Resource, TranslateConfig } from "./types.js";

/** What a feature contributes to: one listener's chain, or the clusters of one node role. */
export interface Chain {
  role: "gateway" | "sidecar";
  cfg: TranslateConfig;
  /** The apps this listener (or node) serves: every app on a gateway, one service's on a sidecar. */
  apps: AppRecord[];
}

/** An HTTP filter's configuration as it stands in a chain. */
export type FilterJson = { name: string; typed_config: Json };

/** One HTTP filter of a listener's chain. */
export interface HttpFilter {
  /** On the gateway it is served by ECDS under its name. */
  json: FilterJson;
  /** Apps whose spec shapes the filter's config (NACK attribution of its ECDS resource). */
  apps: string[];
  /** The app whose spec makes this filter exist at all: the listener then depends on that app. */
  existsFor?: string;
}

/** The three kinds of route an app has (see routes.ts). */
export type RouteKind = "public" | "bff" | "app";

/** A path region some app's routes own on a virtual host (its prefix, its BFF routes). */
export interface Region {
  app: string;
  prefix: string;
}

/** A virtual host being built: its chain and the path regions its apps own. */
export interface VirtualHostScope {
  chain: Chain;
  regions: Region[];
}

/**
 * A route a feature adds for an app, without what the other features add to
 * every route (routes.ts completes it: route fields, the app header,
 * typed_per_filter_config).
 */
export interface RouteDraft {
  kind: RouteKind;
  /** Route ordering key: longest first. */
  sortKey: string;
  name: string;
  match: Json;
  route: Json;
  /** Request headers removed before the upstream sees the request. */
  removeHeaders?: string[];
  /**
   * The spec the other features complete this route from, when not the app's
   * own: an app group's route carries the group's cookie (translate/bff.ts).
   */
  spec?: AppSpec;
}

export interface ClusterSet {
  clusters: Resource[];
  endpoints?: Resource[];
}

export interface Feature {
  /** Names the feature in tests and golden files. */
  readonly name: string;
  /** HTTP filters the feature puts in a listener's chain, in chain order (the list order orders features). */
  httpFilters?(chain: Chain): HttpFilter[];
  /** Clusters (and endpoints) the feature needs. */
  clusters?(chain: Chain): ClusterSet;
  /** Path regions the feature's routes own for an app (public paths never route inside another app's). */
  regions?(chain: Chain, spec: AppSpec): string[];
  /** Routes the feature adds for one app on one virtual host. */
  routes?(vh: VirtualHostScope, app: AppRecord): RouteDraft[];
  /** Fields the feature sets on an app's route of this kind (e.g. metadata). */
  routeFields?(chain: Chain, kind: RouteKind, spec: AppSpec): Json | undefined;
  /** typed_per_filter_config entries the feature sets on every virtual host (a default its routes may override). */
  virtualHostPerFilter?(chain: Chain): Json | undefined;
  /** typed_per_filter_config entries the feature sets on an app's route of this kind. */
  perRoute?(chain: Chain, kind: RouteKind, spec: AppSpec): Json | undefined;
}
