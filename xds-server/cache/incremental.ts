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
// Which apps changed comes from the registry's change set since the last
// build (every app is compared when there is none). Each type's resources are
// the previous build's map with the changed names over it (an OverlayMap, no
// copy), its version an order-independent digest updated per changed
// resource, and the apps a shared resource is attributed to are listed when
// first read, so a one-app change costs O(that app). The result is what a full translate() gives, resource for resource
// (names, versions, bytes, attribution; test/xds/incremental.test.ts checks
// it over random changes); only the order of resources in a type differs
// (translate() sorts by name, this one appends), which nothing depends on.
// App records are interned: a record with the id, revision and updatedAt of
// the last build's is that one (every store write bumps the app's revision).
import { createHash } from "node:crypto";
import { findApp } from "../registry/store.js";
import type { AppRecord, AppSpec, RegistrySnapshot } from "../registry/types.js";
import { PUSH_ORDER, TYPE_URLS as T, type TypeSnapshot, type VersionedResource } from "../resource/types.js";
import { jwksTarget } from "../translate/clusters.js";
import { clustersOf, type Resource, type TranslateConfig, type TypeUrl } from "../translate/index.js";
import { jwtAuthn, pieces } from "../translate/jwt.js";
import { gatewayListener } from "../translate/listeners.js";
import { GATEWAY_ROUTES, JWT_FILTER, jwksCluster } from "../translate/names.js";
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
import { OverlayMap } from "./overlay-map.js";
import { hostnameOf } from "./vhds-resolve.js";

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

/**
 * One type being rebuilt: the previous map and the names set or deleted over
 * it, and its digest. The result shares the previous map (OverlayMap): a
 * change costs O(names changed), not a copy of the type.
 */
class TypeDraft {
  /** name -> resource set, or undefined: deleted. */
  private readonly pending = new Map<string, VersionedResource | undefined>();
  private readonly digest: TypeDigest;

  constructor(
    private readonly prev: Map<string, VersionedResource>,
    digest: TypeDigest,
  ) {
    this.digest = digest.clone();
  }

  get(name: string): VersionedResource | undefined {
    return this.pending.has(name) ? this.pending.get(name) : this.prev.get(name);
  }

  set(r: VersionedResource): void {
    const old = this.get(r.name);
    if (old === r) return;
    this.pending.set(r.name, r);
    if (old) this.digest.remove(old);
    this.digest.add(r);
  }

  delete(name: string): void {
    const old = this.get(name);
    if (!old) return;
    this.pending.set(name, undefined);
    this.digest.remove(old);
  }

  /** The type's resources and digest, and the names whose version moved (a delete and re-add of the same version did not). */
  done(): { resources: Map<string, VersionedResource>; digest: TypeDigest; names: Set<string> } {
    const names = new Set<string>();
    if (this.pending.size === 0) return { resources: this.prev, digest: this.digest, names };
    const set: [string, VersionedResource][] = [];
    const deleted: string[] = [];
    for (const [n, r] of this.pending) {
      if (r) set.push([n, r]);
      else deleted.push(n);
      if (this.prev.get(n)?.version !== r?.version) names.add(n);
    }
    return { resources: OverlayMap.patch(this.prev, set, deleted), digest: this.digest, names };
  }
}

const sortedIds = (ids: Iterable<string>) => [...ids].sort();

export class GatewayBuilder {
  /** The apps of the last build by id (in no particular order), and as the registry lists them (sorted by id). */
  private recs = new Map<string, AppRecord>();
  private apps: readonly AppRecord[] = [];
  /** The registry of the last build. */
  registry?: RegistrySnapshot;
  private readonly parts = new Map<string, AppPart>();
  /** host -> ids of the apps that name it. */
  private readonly byHost = new Map<string, Set<string>>();
  private readonly hosts = new Map<string, HostPart>();
  /** Sorted hosts (SotW: the RouteConfiguration's order). */
  private hostOrder: string[] = [];
  /** JWKS cluster name -> ids of the apps that need it. */
  private readonly jwksOwners = new Map<string, Set<string>>();
  /** JWKS cluster name -> its owners' JSON texts, counted (owners almost always agree). */
  private readonly jwksTexts = new Map<string, Map<string, number>>();
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

  /**
   * The types for `snap`. `ids`: the apps written or deleted since the
   * registry of the last build (SnapshotCache follows the registry's change
   * sets); absent, every app is compared.
   */
  build(snap: RegistrySnapshot, ids?: ReadonlySet<string>): Map<string, TypeSnapshot> {
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

    // Which apps changed: added, updated (another record), removed. `ids`: the
    // only ones that may have (the registry's change set since the last build).
    const changed: { before?: AppPart; after?: AppPart }[] = [];
    const same = (known: AppRecord | undefined, a: AppRecord) =>
      known && (known === a || (known.revision === a.revision && known.updatedAt === a.updatedAt));
    if (ids && this.types) {
      for (const id of ids) {
        const a = findApp(snap.apps, id);
        const known = this.recs.get(id);
        if (a && same(known, a)) continue;
        if (a) {
          this.recs.set(id, a);
          changed.push({ before: this.parts.get(id), after: this.part(a) });
        } else if (known) {
          this.recs.delete(id);
          changed.push({ before: this.parts.get(id) });
        }
      }
    } else {
      const next = new Map<string, AppRecord>();
      for (const a of snap.apps) {
        const known = this.recs.get(a.spec.id);
        if (known && same(known, a)) {
          next.set(a.spec.id, known);
          continue;
        }
        next.set(a.spec.id, a);
        changed.push({ before: this.parts.get(a.spec.id), after: this.part(a) });
      }
      for (const [id] of this.recs) if (!next.has(id)) changed.push({ before: this.parts.get(id) });
      this.recs = next;
    }
    this.apps = snap.apps;
    this.registry = snap;

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
      const texts = this.jwksTexts.get(r.name)!;
      const text = JSON.stringify(r.json);
      const n = texts.get(text)! - 1;
      if (n > 0) texts.set(text, n);
      else texts.delete(text);
      if (texts.size === 0) this.jwksTexts.delete(r.name);
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
      let texts = this.jwksTexts.get(r.name);
      if (!texts) {
        texts = new Map();
        this.jwksTexts.set(r.name, texts);
      }
      const text = JSON.stringify(r.json);
      texts.set(text, (texts.get(text) ?? 0) + 1);
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
      const jwksOf = (id: string) => this.parts.get(id)!.jwks.find((r) => r.name === name)!;
      // Owners agree on the cluster (the same JWKS scheme, host and port) unless told otherwise: any one's JSON is the first's.
      const texts = this.jwksTexts.get(name)!;
      const first =
        texts.size === 1 ? owners.values().next().value! : [...owners].reduce((a, b) => (b < a ? b : a));
      const apps = this.inRegistryOrder(owners, (a) => jwksNames(a.spec).includes(name));
      draft.set(this.version(T.cluster, jwksOf(first), draft.get(name), apps));
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
    const all = this.apps;
    const apps: Record<string, Apps> = {
      [JWT_FILTER]: () => all.map((a) => a.spec.id),
      [SANITIZE_FILTER]: this.inRegistryOrder(
        this.withClaimHeaders,
        (a) => a.spec.jwt.claimHeaders.length > 0,
      ),
    };
    for (const r of this.filters.resources)
      draft.set(this.version(T.ecds, r, draft.get(r.name), apps[r.name] ?? []));
  }

  /** Rebuilds the touched virtual hosts; SotW: re-assembles the RouteConfiguration. */
  private virtualHosts(touched: Set<string>, d: (t: TypeUrl) => TypeDraft, anyChange: boolean): void {
    const wild = [...(this.byHost.get("*") ?? [])].sort();
    let orderChanged = false;
    for (const host of touched) {
      const ids = this.byHost.get(host);
      if (!ids) {
        if (this.hosts.delete(host)) {
          orderChanged = true;
          this.indexPort(host, false);
        }
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
      if (!this.hosts.has(host)) {
        orderChanged = true;
        this.indexPort(host, true);
      }
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

  /** Host name -> the hosts with a port on it, for the on-demand resolver (copied when one comes or goes: they are few). */
  private ports: ReadonlyMap<string, readonly string[]> = new Map();

  get portHosts(): ReadonlyMap<string, readonly string[]> {
    return this.ports;
  }

  private indexPort(host: string, add: boolean): void {
    const name = hostnameOf(host);
    if (name === host) return;
    const next = new Map(this.ports);
    const hosts = (next.get(name) ?? []).filter((h) => h !== host);
    if (add) hosts.push(host);
    if (hosts.length) next.set(name, hosts);
    else next.delete(name);
    this.ports = next;
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
    const all = this.apps;
    return withApps({ name: GATEWAY_ROUTES, version, any }, () => all.map((a) => a.spec.id));
  }

  /**
   * Some app ids in registry order (sorted by id): a few sorted now; many
   * listed when first read (only a NACK reads them), from the registry's list
   * of this build and `member`, the same test on the app's record.
   */
  private inRegistryOrder(ids: Set<string>, member: (a: AppRecord) => boolean): Apps {
    if (ids.size < 64) return sortedIds(ids);
    const all = this.apps;
    return () => all.filter(member).map((a) => a.spec.id);
  }

  /** Text, version and encoding of one resource; the encoding of `prev` is reused when the text is unchanged. */
  private version(
    typeUrl: TypeUrl,
    r: Resource,
    prev?: VersionedResource,
    apps: Apps = r.apps,
  ): VersionedResource {
    const version = versionOf(typeUrl, JSON.stringify(r.json));
    const any = prev?.version === version ? prev.any : encodeResource(typeUrl, r.json);
    return withApps({ name: r.name, version, any }, apps);
  }
}

/** App ids, or how to list them when first read. */
type Apps = string[] | (() => string[]);

/** A resource with its attribution (`apps`), listed on first read when given as a function. */
function withApps(r: Omit<VersionedResource, "apps">, apps: Apps): VersionedResource {
  if (Array.isArray(apps)) return { ...r, apps };
  let listed: string[] | undefined;
  return Object.defineProperty(r, "apps", {
    get: () => {
      listed ??= apps();
      return listed;
    },
    enumerable: true,
  }) as VersionedResource;
}

/** The shared JWKS cluster an app's jwt rule needs (named as translate/jwt.ts names it). */
function jwksNames(spec: AppSpec): string[] {
  const t = jwksTarget(spec.jwt.remoteJwksUri);
  return [jwksCluster(t.host, t.port)];
}
