// SDS over ADS: each node authenticated by its client certificate also gets,
// as Secret resources, a short-lived certificate for that same identity
// (sg_identity) and the trust bundle (sg_trust). A wrapper around the
// per-role snapshots: the role's resources are shared, the secrets are per
// identity. Certificates are re-issued at two thirds of their life (and when
// the CA changes) and pushed, so a node never holds an expired one.

import { createHash } from "node:crypto";
import { create, fromJson } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { SecretSchema } from "../../protos/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js";
import type { CertificateAuthority, IssuedIdentity } from "../identity/ca.js";
import { parseSpiffeId } from "../identity/spiffe.js";
import type { WatchLog } from "../identity/watch.js";
import type {
  NodeInfo,
  NodeSnapshot,
  SnapshotSource,
  TypeSnapshot,
  VersionedResource,
} from "../resource/types.js";
import { TYPE_URLS } from "../resource/types.js";
import { SDS_IDENTITY, SDS_TRUST } from "../translate/names.js";

interface Entry {
  issued?: IssuedIdentity;
  types?: TypeSnapshot;
  pending?: Promise<void>;
  timer?: NodeJS.Timeout;
  lastUsed: number;
  issuedAt?: number;
}

export interface CaSource {
  readonly current: CertificateAuthority;
  onChange(cb: () => void): () => void;
}

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 16);

function secret(json: object): VersionedResource["any"] {
  return anyPack(SecretSchema, create(SecretSchema, fromJson(SecretSchema, json as never)));
}

export class NodeSecrets implements SnapshotSource {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<() => void>();
  /** base snapshot -> peer -> combined snapshot (same object while nothing changed). */
  private combined = new WeakMap<NodeSnapshot, Map<string, NodeSnapshot>>();
  private readonly unsubscribe: () => void;
  private readonly unwatchCa: () => void;

  constructor(
    private readonly inner: SnapshotSource,
    private readonly ca: CaSource,
    private readonly ttlSeconds: number,
    private readonly log: WatchLog,
  ) {
    this.unsubscribe = inner.subscribe(() => this.notify());
    // A new CA (or bundle) re-issues every identity at once.
    this.unwatchCa = ca.onChange(() => {
      for (const peer of this.entries.keys()) void this.issue(peer);
    });
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  snapshotFor(node: NodeInfo): NodeSnapshot {
    const base = this.inner.snapshotFor(node);
    if (!node.peer) return base;
    let e = this.entries.get(node.peer);
    if (!e) {
      e = { lastUsed: Date.now() };
      this.entries.set(node.peer, e);
      void this.issue(node.peer);
    }
    e.lastUsed = Date.now();
    if (!e.types) return base; // issuing: the streams are told when it is ready
    let byPeer = this.combined.get(base);
    if (!byPeer) {
      byPeer = new Map();
      this.combined.set(base, byPeer);
    }
    const hit = byPeer.get(node.peer);
    if (hit && hit.types.get(TYPE_URLS.secret) === e.types) return hit;
    const types = new Map(base.types);
    types.set(TYPE_URLS.secret, e.types);
    const snap: NodeSnapshot = { ...base, types };
    byPeer.set(node.peer, snap);
    return snap;
  }

  close(): void {
    this.unsubscribe();
    this.unwatchCa();
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
    this.listeners.clear();
  }

  /** The certificate currently served to `peer` (tests, metrics). */
  issuedFor(peer: string): IssuedIdentity | undefined {
    return this.entries.get(peer)?.issued;
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }

  private issue(peer: string): Promise<void> {
    const e = this.entries.get(peer);
    if (!e) return Promise.resolve();
    if (e.pending) return e.pending;
    e.pending = (async () => {
      try {
        const id = parseSpiffeId(peer);
        const issued = await this.ca.current.issue({
          role: id.role,
          name: id.name,
          ttlSeconds: this.ttlSeconds,
        });
        const resources = new Map<string, VersionedResource>();
        const add = (name: string, json: object) => {
          const version = hash(JSON.stringify(json));
          resources.set(name, { name, version, any: secret(json), apps: [] });
        };
        add(SDS_IDENTITY, {
          name: SDS_IDENTITY,
          tlsCertificate: {
            certificateChain: { inlineString: issued.certChainPem },
            privateKey: { inlineString: issued.keyPem },
          },
        });
        add(SDS_TRUST, {
          name: SDS_TRUST,
          validationContext: { trustedCa: { inlineString: issued.bundlePem } },
        });
        e.issued = issued;
        e.issuedAt = Date.now();
        e.types = {
          version: hash([...resources.values()].map((r) => `${r.name}=${r.version}`).join("\n")),
          resources,
        };
        this.schedule(peer, e, issued);
        this.log.info({ peer, notAfter: issued.notAfter.toISOString() }, "SDS certificate issued");
      } catch (err) {
        this.log.error({ peer, err: (err as Error).message }, "issuing an SDS certificate failed; retrying");
        clearTimeout(e.timer);
        e.timer = setTimeout(() => void this.issue(peer), 5000);
        e.timer.unref();
      } finally {
        e.pending = undefined;
      }
      this.notify();
    })();
    return e.pending;
  }

  private schedule(peer: string, e: Entry, issued: IssuedIdentity): void {
    clearTimeout(e.timer);
    const life = this.ttlSeconds * 1000;
    const at = issued.notAfter.getTime() - life / 3;
    e.timer = setTimeout(
      () => {
        // Every connected stream re-reads its snapshot when told of the last
        // issue; no read since then means no node holds this identity now.
        if (e.lastUsed < (e.issuedAt ?? 0)) {
          this.entries.delete(peer);
          return;
        }
        void this.issue(peer);
      },
      Math.max(1000, Math.min(at - Date.now(), 2 ** 31 - 1)),
    );
    e.timer.unref();
  }
}
