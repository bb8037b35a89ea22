// A gateway role's snapshot, rebuilt per registry revision at the cost of the
// apps that changed, not of all apps. translate() stays the reference (pure,
// golden-tested); this builder calls the same translator pieces for just the
// apps and hosts a change touches, and keeps what they produced text-hashed
// and encoded:
//   - each app's own clusters and endpoints, by app record;
//   - each virtual host, rebuilt when an app on its host changed (an app on
//     "*" is on every host, so its change rebuilds every one, as before);
//   - the shared JWKS clusters and the filter configs (ECDS), rebuilt only
//     when the set of distinct JWT providers / requirements changes, from one
//     representative app per distinct pair: an app of a known issuer and
//     audience re-translates nothing shared. The listener and the route
//     skeleton depend on no app on a gateway: built once.
// Each type's resources are the previous build's map with the changed names
// patched in, and its version an order-independent digest updated per
// changed resource, so a one-app change costs O(that app) plus copying the
// maps. The result is what a full translate() gives, resource for resource
// (names, versions, bytes, attribution; test/xds/incremental.test.ts checks
// it over random changes); only the order of resources in a type differs
// (translate() sorts by name, this one appends), which nothing depends on.
// App records are interned: a record with the id, revision and updatedAt of
// the last build's is that one (every store write bumps the app's revision).
import { createHash } from "node:crypto";
import type { AppRecord, RegistrySnapshot } from "../registry/types.js";
import { PUSH_ORDER, TYPE_URLS as T, type TypeSnapshot, type VersionedResource } from "../resource/types.js";
import { clustersOf, type Resource, type TranslateConfig, type TypeUrl } from "../translate/index.js";
import { jwtAuthn, pieces } from "../translate/jwt.js";
import { gatewayListener } from "../translate/listeners.js";
import { GATEWAY_ROUTES, JWT_FILTER } from "../translate/names.js";
import {
  asVhdsResource,
  gatewayVirtualHost,
  VHDS_ANCHOR,
  VHDS_SKELETON,
  vhdsName,
} from "../translate/routes.js";
import { SANITIZE_FILTER } from "../translate/sanitize.js";
import type { Json } from "../translate/types.js";
import { assembleRouteConfiguration, encodeResource, encodeVirtualHost } from "./encode.js";

export const contentHash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

/** A resource's content-hash version: of its type and its proto3-JSON text. */
export const versionOf = (typeUrl: string, text: string) => contentHash(`${typeUrl}\n${text}`);

/**
 * A type's version: a digest of its resources' names and versions that does
 * not depend on their order (the sum, per 32-bit lane, of each resource's
 * version and name hashes), so adding, removing or changing one resource updates it in O(1).
 */
export class TypeDigest {
  private readonly lanes = new Uint32Array(4);

  static of(resources: Map<string, VersionedResource>): TypeDigest {
    const d = new TypeDigest();
    for (const r of resources.values()) d.add(r);
    return d;
  }

  clone(): TypeDigest {
    const d = new TypeDigest();
    d.lanes.set(this.lanes);
    return d;
  }

  add(r: VersionedResource): void {
    this.step(r, 1);
  }

  remove(r: VersionedResource): void {
    this.step(r, -1);
  }

  get version(): string {
    return [...this.lanes]
      .map((x) => x.toString(16).padStart(8, "0"))
      .join("")
      .slice(0, 16);
  }

  private step(r: VersionedResource, sign: 1 | -1): void {
    // The version is already a 64-bit content hash of the resource (whose JSON
    // names it); the name's FNV-1a hashes make the entry depend on it too.
    const v = r.version.padEnd(16, "0");
    const entry = [
      Number.parseInt(v.slice(0, 8), 16) >>> 0,
      Number.parseInt(v.slice(8, 16), 16) >>> 0,
      fnv1a(r.name, 0x811c9dc5),
      fnv1a(r.name, 0x01000193),
    ];
    for (let i = 0; i < 4; i++) this.lanes[i] = (this.lanes[i] + sign * entry[i]) >>> 0;
  }
}

function fnv1a(s: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export const typeVersion = (resources: Map<string, VersionedResource>) => TypeDigest.of(resources).version;

type GatewayRole = { kind: "gateway"; address: string; port: number; vhds?: true };

interface AppPart {
  rec: AppRecord;
  hosts: string[];
  /** Its own clusters (app, ext_authz) and endpoints; shared ones (JWKS) are in `jwks`. */
  clusters: VersionedResource[];
  endpoints: VersionedResource[];
  jwks: Resource[];
  /** Its JWT provider and requirement (apps with the same pair shape the filter configs alike). */
  jwtKey: string;
  claimHeaders: boolean;
}

interface HostPart {
  resource?: VersionedResource;
  text?: string;
  bytes?: Uint8Array;
}

/** One type being rebuilt: the previous map, copied once on the first change, and its digest. */
class TypeDraft {
  private map?: Map<string, VersionedResource>;
  private readonly digest: TypeDigest;
  private readonly touched = new Set<string>();

  constructor(
    private readonly prev: Map<string, VersionedResource>,
    digest: TypeDigest,
  ) {
    this.digest = digest.clone();
  }

  get(name: string): VersionedResource | undefined {
    return (this.map ?? this.prev).get(name);
  }

  set(r: VersionedResource): void {
    const old = this.get(r.name);
    if (old === r) return;
    this.touched.add(r.name);
    this.writable().set(r.name, r);
    if (old) this.digest.remove(old);
    this.digest.add(r);
  }

  delete(name: string): void {
    const old = this.get(name);
    if (!old) return;
    this.touched.add(name);
    this.writable().delete(name);
    this.digest.remove(old);
  }

  /** The type's resources and digest, and the names whose version moved (a delete and re-add of the same version did not). */
  done(): { resources: Map<string, VersionedResource>; digest: TypeDigest; names: Set<string> } {
    const resources = this.map ?? this.prev;
    const names = new Set<string>();
    for (const n of this.touched) if (this.prev.get(n)?.version !== resources.get(n)?.version) names.add(n);
    return { resources, digest: this.digest, names };
  }

  private writable(): Map<string, VersionedResource> {
    this.map ??= new Map(this.prev);
    return this.map;
  }
}

const sortedIds = (ids: Iterable<string>) => [...ids].sort();

export class GatewayBuilder {
  private recs = new Map<string, AppRecord>();
  private readonly parts = new Map<string, AppPart>();
  /** host -> ids of the apps that name it. */
  private readonly byHost = new Map<string, Set<string>>();
  private readonly hosts = new Map<string, HostPart>();
  /** Sorted hosts (SotW: the RouteConfiguration's order). */
  private hostOrder: string[] = [];
  /** JWKS cluster name -> ids of the apps that need it. */
  private readonly jwksOwners = new Map<string, Set<string>>();
  /** provider+requirement key -> ids of the apps with it (the filter configs depend on the keys only). */
  private readonly jwtKeys = new Map<string, Set<string>>();
  private readonly withClaimHeaders = new Set<string>();
  private types?: Map<string, TypeSnapshot>;
  private digests = new Map<string, TypeDigest>();
  /** Filter configs as last built, and the keys they were built from. */
  private filters?: { keys: string; resources: Resource[] };
  private readonly fixed: Map<string, VersionedResource[]>;
  /** Delta: the "*" virtual host's VHDS JSON (on-demand nodes get its routes under the host they ask for). */
  private wildcard?: Json;

  constructor(
    private readonly cfg: TranslateConfig,
    private readonly role: GatewayRole,
  ) {
    // What does not depend on any app: BFF, wasm code and ext_authz default clusters,
    // the listener, the route skeleton (Delta), the VHDS anchor.
    const none = clustersOf({ role: "gateway", cfg, apps: [] });
    const { listener } = gatewayListener([], cfg, role.address, role.port);
    this.fixed = new Map<string, VersionedResource[]>([
      [T.cluster, none.clusters.map((r) => this.version(T.cluster, r))],
      [T.endpoint, none.endpoints.map((r) => this.version(T.endpoint, r))],
      [T.listener, [this.version(T.listener, listener)]],
      [T.route, role.vhds ? [this.version(T.route, VHDS_SKELETON)] : []],
      [T.vhds, role.vhds ? [this.version(T.vhds, VHDS_ANCHOR)] : []],
    ]);
  }

  /** The "*" virtual host's VHDS JSON as last built (Delta roles with an app on "*"), for cache/vhds-resolve.ts. */
  get wildcardVirtualHost(): Json | undefined {
    return this.wildcard;
  }

  build(snap: RegistrySnapshot): Map<string, TypeSnapshot> {
    const first = !this.types;
    const drafts = new Map(
      PUSH_ORDER.map((t) => {
        const prev = this.types?.get(t);
        return [
          t,
          new TypeDraft(prev?.resources ?? new Map(), this.digests.get(t) ?? new TypeDigest()),
        ] as const;
      }),
    );
    const d = (t: TypeUrl) => drafts.get(t)!;
    if (first) for (const [t, rs] of this.fixed) for (const r of rs) d(t as TypeUrl).set(r);

    // Which apps changed: added, updated (another record), removed.
    const next = new Map<string, AppRecord>();
    const changed: { before?: AppPart; after?: AppPart }[] = [];
    for (const a of snap.apps) {
      const known = this.recs.get(a.spec.id);
      if (known && (known === a || (known.revision === a.revision && known.updatedAt === a.updatedAt))) {
        next.set(a.spec.id, known);
        continue;
      }
      next.set(a.spec.id, a);
      changed.push({ before: this.parts.get(a.spec.id), after: this.part(a) });
    }
    for (const [id] of this.recs) if (!next.has(id)) changed.push({ before: this.parts.get(id) });
    this.recs = next;

    const touchedHosts = new Set<string>();
    const touchedJwks = new Set<string>();
    let wildcard = false;
    for (const { before, after } of changed) {
      if (before) this.forget(before, d, touchedHosts, touchedJwks);
      if (after) this.remember(after, d, touchedHosts, touchedJwks);
      if (before?.hosts.includes("*") || after?.hosts.includes("*")) wildcard = true;
    }
    this.jwksClusters(touchedJwks, d(T.cluster));
    this.filterConfigs(d(T.ecds), changed.length > 0 || first);
    // A change on "*" touches every host; the hosts it left (no longer in byHost) are touched too.
    if (wildcard) for (const h of this.byHost.keys()) touchedHosts.add(h);
    this.virtualHosts(touchedHosts, d, changed.length > 0 || first);

    const types = new Map<string, TypeSnapshot>();
    for (const t of PUSH_ORDER) {
      const { resources, digest, names } = d(t).done();
      const prev = this.types?.get(t);
      const ts: TypeSnapshot =
        prev && prev.resources === resources
          ? { version: prev.version, resources, changes: { from: prev, names: new Set() } }
          : {
              version: digest.version,
              resources,
              ...(prev ? { changes: { from: prev, names } } : {}),
            };
      // Only the latest step is kept: a chain of predecessors would keep every old snapshot alive.
      if (prev) prev.changes = undefined;
      this.digests.set(t, digest);
      types.set(t, ts);
    }
    this.types = types;
    return types;
  }

  /** One app's own resources and what it brings to the shared ones. */
  private part(a: AppRecord): AppPart {
    const chain = { role: "gateway" as const, cfg: this.cfg, apps: [a] };
    const own = clustersOf(chain);
    const fixed = new Set(this.fixed.get(T.cluster)!.map((r) => r.name));
    const jwks = jwtAuthn.clusters!(chain).clusters;
    for (const r of jwks) fixed.add(r.name);
    const p = pieces(a.spec);
    return {
      rec: a,
      hosts: [...new Set(a.spec.hosts)],
      clusters: own.clusters.filter((r) => !fixed.has(r.name)).map((r) => this.version(T.cluster, r)),
      endpoints: own.endpoints.map((r) => this.version(T.endpoint, r)),
      jwks,
      jwtKey: `${p.providerName} ${p.requirement.name}`,
      claimHeaders: a.spec.jwt.claimHeaders.length > 0,
    };
  }

  private forget(p: AppPart, d: (t: TypeUrl) => TypeDraft, hosts: Set<string>, jwks: Set<string>): void {
    const id = p.rec.spec.id;
    this.parts.delete(id);
    for (const r of p.clusters) d(T.cluster).delete(r.name);
    for (const r of p.endpoints) d(T.endpoint).delete(r.name);
    for (const h of p.hosts) {
      hosts.add(h);
      const ids = this.byHost.get(h)!;
      ids.delete(id);
      if (ids.size === 0) this.byHost.delete(h);
    }
    for (const r of p.jwks) {
      jwks.add(r.name);
      this.jwksOwners.get(r.name)?.delete(id);
    }
    const k = this.jwtKeys.get(p.jwtKey)!;
    k.delete(id);
    if (k.size === 0) this.jwtKeys.delete(p.jwtKey);
    this.withClaimHeaders.delete(id);
  }

  private remember(p: AppPart, d: (t: TypeUrl) => TypeDraft, hosts: Set<string>, jwks: Set<string>): void {
    const id = p.rec.spec.id;
    this.parts.set(id, p);
    for (const r of p.clusters) d(T.cluster).set(r);
    for (const r of p.endpoints) d(T.endpoint).set(r);
    for (const h of p.hosts) {
      hosts.add(h);
      let ids = this.byHost.get(h);
      if (!ids) {
        ids = new Set();
        this.byHost.set(h, ids);
      }
      ids.add(id);
    }
    for (const r of p.jwks) {
      jwks.add(r.name);
      let owners = this.jwksOwners.get(r.name);
      if (!owners) {
        owners = new Set();
        this.jwksOwners.set(r.name, owners);
      }
      owners.add(id);
    }
    let k = this.jwtKeys.get(p.jwtKey);
    if (!k) {
      k = new Set();
      this.jwtKeys.set(p.jwtKey, k);
    }
    k.add(id);
    if (p.claimHeaders) this.withClaimHeaders.add(id);
  }

  /** A shared JWKS cluster: the first owner's (registry order) JSON, every owner attributed. */
  private jwksClusters(names: Set<string>, draft: TypeDraft): void {
    for (const name of names) {
      const owners = this.jwksOwners.get(name);
      if (!owners || owners.size === 0) {
        this.jwksOwners.delete(name);
        draft.delete(name);
        continue;
      }
      const ids = this.inRegistryOrder(owners);
      const json = this.parts.get(ids[0])!.jwks.find((r) => r.name === name)!;
      const r = this.version(T.cluster, { ...json, apps: ids }, draft.get(name));
      draft.set(r);
    }
  }

  /**
   * ECDS: the filter configs from one representative app per distinct JWT
   * provider+requirement (claim headers are part of the provider), rebuilt
   * when that set changes; every app attributed as translate() does.
   */
  private filterConfigs(draft: TypeDraft, anyChange: boolean): void {
    if (!anyChange) return;
    const keys = sortedIds(this.jwtKeys.keys());
    const joined = keys.join("\n");
    if (this.filters?.keys !== joined) {
      const reps = keys.map((k) => this.recs.get(this.jwtKeys.get(k)!.values().next().value!)!);
      this.filters = { keys: joined, resources: gatewayListener(reps, this.cfg, "", 0).filterConfigs };
    }
    // Attribution, as translate(): jwt_authn every app, the header strip the apps with claim headers.
    const apps: Record<string, string[]> = {
      [JWT_FILTER]: [...this.recs.keys()],
      [SANITIZE_FILTER]: this.inRegistryOrder(this.withClaimHeaders),
    };
    for (const r of this.filters.resources)
      draft.set(this.version(T.ecds, { ...r, apps: apps[r.name] ?? [] }, draft.get(r.name)));
  }

  /** Rebuilds the touched virtual hosts; SotW: re-assembles the RouteConfiguration. */
  private virtualHosts(touched: Set<string>, d: (t: TypeUrl) => TypeDraft, anyChange: boolean): void {
    const wild = [...(this.byHost.get("*") ?? [])].sort();
    let orderChanged = false;
    for (const host of touched) {
      const ids = this.byHost.get(host);
      if (!ids) {
        if (this.hosts.delete(host)) orderChanged = true;
        if (this.role.vhds) d(T.vhds).delete(vhdsName(host));
        if (host === "*") this.wildcard = undefined;
        continue;
      }
      const own = sortedIds(ids);
      const mine = new Set(own);
      const here = [...own, ...(host === "*" ? [] : wild.filter((w) => !mine.has(w)))].map(
        (id) => this.recs.get(id)!,
      );
      const v = gatewayVirtualHost(host, here, this.cfg);
      if (!this.hosts.has(host)) orderChanged = true;
      if (this.role.vhds) {
        const vr = asVhdsResource(v);
        if (host === "*") this.wildcard = vr.json;
        const r = this.version(T.vhds, vr, d(T.vhds).get(vhdsName(host)));
        this.hosts.set(host, { resource: r });
        d(T.vhds).set(r);
      } else this.hosts.set(host, { text: JSON.stringify(v.json), bytes: encodeVirtualHost(v.json) });
    }
    if (this.role.vhds) return;
    if (orderChanged) this.hostOrder = [...this.hosts.keys()].sort();
    if (anyChange) d(T.route).set(this.sotwRoutes());
  }

  /** SotW: the whole RouteConfiguration, its text and encoding assembled from the virtual hosts'. */
  private sotwRoutes(): VersionedResource {
    const parts = this.hostOrder.map((h) => this.hosts.get(h)!);
    // Exactly JSON.stringify(gatewayRoutes(...).json): name, virtual_hosts, validate_clusters.
    const text = `{"name":${JSON.stringify(GATEWAY_ROUTES)},"virtual_hosts":[${parts.map((h) => h.text).join(",")}],"validate_clusters":false}`;
    const version = versionOf(T.route, text);
    const any = assembleRouteConfiguration(
      { name: GATEWAY_ROUTES, validate_clusters: false },
      parts.map((h) => h.bytes!),
    );
    return { name: GATEWAY_ROUTES, version, any, apps: [...this.recs.keys()] };
  }

  /** Some app ids in registry order (sorted by id; `recs` holds them in that order). */
  private inRegistryOrder(ids: Set<string>): string[] {
    return ids.size < 64 ? sortedIds(ids) : [...this.recs.keys()].filter((id) => ids.has(id));
  }

  /** Text, version and encoding of one resource; the encoding of `prev` is reused when the text is unchanged. */
  private version(typeUrl: TypeUrl, r: Resource, prev?: VersionedResource): VersionedResource {
    const version = versionOf(typeUrl, JSON.stringify(r.json));
    const any = prev?.version === version ? prev.any : encodeResource(typeUrl, r.json);
    return { name: r.name, version, any, apps: r.apps };
  }
}
