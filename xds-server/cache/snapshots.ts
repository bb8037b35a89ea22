// Per-node versioned snapshots. Nodes with the same role share one snapshot,
// built lazily once per registry revision. Versions are content hashes, so
// every replica (and a restarted server) computes the same versions for the
// same registry: an Envoy moving between them is not re-pushed.
import type { Any } from "@bufbuild/protobuf/wkt";
import { findApp } from "../registry/store.js";
import type { AppRecord, RegistrySnapshot } from "../registry/types.js";
import {
  type AppRevisions,
  type NodeInfo,
  type NodeSnapshot,
  PUSH_ORDER,
  type SnapshotSource,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
  type VirtualHostResolver,
} from "../resource/types.js";
import { type NodeRole, roleOf, type TranslateConfig, translate } from "../translate/index.js";
import { vhdsName } from "../translate/routes.js";
import type { Json } from "../translate/types.js";
import { encodeResource } from "./encode.js";
import { GatewayBuilder, typeVersion, versionOf } from "./incremental.js";
import { virtualHostResolver } from "./vhds-resolve.js";

/** Registry change steps kept for builders that have not caught up (each holds one registry list alive). */
const MAX_STEPS = 16;

export class SnapshotCache implements SnapshotSource {
  private registry: RegistrySnapshot = { revision: 0, apps: [] };
  /**
   * The registry's change sets from the oldest gateway builder's registry to
   * the current one, so each build looks only at the apps written since its
   * last (a builder not on this chain compares every app).
   */
  private steps: { from: RegistrySnapshot; ids: ReadonlySet<string> }[] = [];
  /** Sidecar service name -> apps naming it, for roleFor() (kept with the registry when it says what changed). */
  private services?: { of: RegistrySnapshot; count: Map<string, number> };
  private readonly byRole = new Map<string, NodeSnapshot>();
  /** Last good snapshot per role: a translator failure keeps serving it. */
  private readonly lastGood = new Map<string, NodeSnapshot>();
  /**
   * Per role: resource content hash -> encoded Any of its last build, so a
   * build re-encodes only what changed, and the cache holds one snapshot's
   * worth per role at any number of apps.
   */
  private readonly encoded = new Map<string, Map<string, Any>>();
  /** Gateway roles: built incrementally (cache/incremental.ts), one builder per role. */
  private readonly gateways = new Map<string, GatewayBuilder>();
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly cfg: TranslateConfig,
    private readonly log: { error: (o: object, m: string) => void },
    private readonly onBuild?: (seconds: number) => void,
  ) {}

  setRegistry(snap: RegistrySnapshot): void {
    if (snap.revision === this.registry.revision && snap === this.registry) return;
    const prev = this.registry;
    const ids = snap.changes?.from === prev ? snap.changes.ids : undefined;
    if (ids) {
      this.steps.push({ from: prev, ids });
      if (this.steps.length > MAX_STEPS) this.steps.shift();
    } else this.steps = [];
    if (ids && this.services?.of === prev) {
      for (const id of ids) {
        this.countService(findApp(prev.apps, id), -1);
        this.countService(findApp(snap.apps, id), 1);
      }
      this.services.of = snap;
    } else this.services = undefined;
    this.registry = snap;
    this.byRole.clear();
    for (const l of this.listeners) l();
  }

  getRegistry(): RegistrySnapshot {
    return this.registry;
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  roleFor(node: Pick<NodeInfo, "cluster" | "metadata">): NodeRole {
    if (!this.services) {
      this.services = { of: this.registry, count: new Map() };
      for (const a of this.registry.apps) this.countService(a, 1);
    }
    const count = this.services.count;
    return roleOf(node, this.registry, this.cfg, (service) => count.has(service));
  }

  private countService(a: AppRecord | undefined, by: 1 | -1): void {
    const service = a?.spec.sidecar?.service;
    if (service === undefined || !this.services) return;
    const n = (this.services.count.get(service) ?? 0) + by;
    if (n > 0) this.services.count.set(service, n);
    else this.services.count.delete(service);
  }

  /** The apps written since `base` (a registry this cache held), or undefined: not known, compare all. */
  private changedSince(base: RegistrySnapshot | undefined): Set<string> | undefined {
    if (!base) return undefined;
    if (base === this.registry) return new Set();
    const i = this.steps.findIndex((s) => s.from === base);
    if (i < 0) return undefined;
    const out = new Set<string>();
    for (const s of this.steps.slice(i)) for (const id of s.ids) out.add(id);
    return out;
  }

  /** Drops the steps every gateway builder is past. */
  private trimSteps(): void {
    let first = this.steps.length;
    for (const b of this.gateways.values()) {
      const i = this.steps.findIndex((s) => s.from === b.registry);
      if (i >= 0 && i < first) first = i;
    }
    if (first > 0) this.steps = this.steps.slice(first);
  }

  snapshotFor(node: NodeInfo): NodeSnapshot {
    return this.forRole(this.roleFor(node));
  }

  forRole(role: NodeRole): NodeSnapshot {
    const key = JSON.stringify(role);
    const hit = this.byRole.get(key);
    if (hit) return hit;
    let snap: NodeSnapshot;
    try {
      snap = this.build(role, key);
    } catch (e) {
      this.log.error(
        { err: (e as Error).message, role },
        "translation failed; keeping the last good snapshot",
      );
      snap = this.lastGood.get(key) ?? { revision: 0, appRevisions: new Map(), types: new Map() };
    }
    this.byRole.set(key, snap);
    this.lastGood.set(key, snap);
    return snap;
  }

  private build(role: NodeRole, key: string): NodeSnapshot {
    const t0 = process.hrtime.bigint();
    const appRevisions = revisionsOf(this.registry.apps);
    if (role.kind === "gateway") {
      let builder = this.gateways.get(key);
      if (!builder) {
        builder = new GatewayBuilder(this.cfg, role);
        this.gateways.set(key, builder);
      }
      let types: Map<string, TypeSnapshot>;
      try {
        types = builder.build(this.registry, this.changedSince(builder.registry));
      } catch (e) {
        // Its state may be half-updated: the next build starts from scratch.
        this.gateways.delete(key);
        throw e;
      }
      this.trimSteps();
      const virtualHosts = resolverOf(types, builder.wildcardVirtualHost, builder.portHosts);
      this.onBuild?.(Number(process.hrtime.bigint() - t0) / 1e9);
      return {
        revision: this.registry.revision,
        appRevisions,
        types,
        ...(virtualHosts ? { virtualHosts } : {}),
      };
    }
    const set = translate(this.registry, this.cfg, role);
    const types = new Map<string, TypeSnapshot>();
    const prev = this.encoded.get(key) ?? new Map<string, Any>();
    const next = new Map<string, Any>();
    for (const typeUrl of PUSH_ORDER) {
      const resources = new Map<string, VersionedResource>();
      for (const r of set[typeUrl]) {
        const text = JSON.stringify(r.json);
        const version = versionOf(typeUrl, text);
        const any = next.get(version) ?? prev.get(version) ?? encodeResource(typeUrl, r.json);
        next.set(version, any);
        resources.set(r.name, { name: r.name, version, any, apps: r.apps });
      }
      types.set(typeUrl, { version: typeVersion(resources), resources });
    }
    this.encoded.set(key, next);
    const virtualHosts = resolverOf(types, set[TYPE_URLS.vhds].find((r) => r.name === vhdsName("*"))?.json);
    this.onBuild?.(Number(process.hrtime.bigint() - t0) / 1e9);
    return {
      revision: this.registry.revision,
      appRevisions,
      types,
      ...(virtualHosts ? { virtualHosts } : {}),
    };
  }
}

/** On-demand VHDS: the host resolver of a snapshot with virtual hosts (Delta gateways), from the "*" one's JSON. */
function resolverOf(
  types: Map<string, TypeSnapshot>,
  wildcardJson: Json | undefined,
  portHosts?: ReadonlyMap<string, readonly string[]>,
): VirtualHostResolver | undefined {
  const vhds = types.get(TYPE_URLS.vhds)?.resources;
  if (!vhds?.size) return undefined;
  return virtualHostResolver(
    vhds,
    wildcardJson,
    types.get(TYPE_URLS.cluster)?.resources ?? new Map(),
    portHosts,
  );
}

/** Each app's revision in a registry list (sorted by id), looked up there: nothing copied per build. */
function revisionsOf(apps: readonly AppRecord[]): AppRevisions {
  return {
    get: (id) => findApp(apps, id)?.revision,
    has: (id) => findApp(apps, id) !== undefined,
  };
}
