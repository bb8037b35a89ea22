// Per-node VHDS subscription state of a Delta gateway (on-demand virtual
// hosts). Envoy's on_demand filter asks for `sessiongate_gateway/<Host>` when
// no route matches a request; the node then holds that host's virtual host
// (and gets its updates and its removal) for as long as the stream lives, and
// Envoy asks for it again by name after a reconnect.
//
// Modes, by node metadata `vhds`:
//   on_demand — the node holds the anchor and the hosts it asked for. Its
//               opening (wildcard) VHDS request gets the anchor only.
//   (absent, or eager) — the node holds every virtual host (a wildcard
//               subscription), as before on-demand loading existed.
// Either way a request for a host no app serves is answered at once with an
// empty resource under that name (Envoy's "alias not resolved": the request
// gets a 404). Envoy 1.40 keeps every name it asked for and never asks for it
// again, so an on-demand node's well-formed host names are remembered — those
// an app serves (`hosts`) and those none did yet (`waiting`, pushed when an app
// comes) — each set bounded by MAX_HOSTS_PER_NODE, first asked first dropped;
// malformed or over-long names are kept nowhere. A dropped served host is
// removed from Envoy, which then answers 404 for it until its ADS stream
// reconnects (it re-subscribes every name then).
import { create } from "@bufbuild/protobuf";
import { type Resource, ResourceSchema } from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import type { NodeInfo, NodeSnapshot, VersionedResource } from "../resource/types.js";
import type { HeldVersions } from "./known.js";
import { deltaResource } from "./wire.js";

export type VhdsMode = "eager" | "on_demand";

/** Per node: at most this many host names held on demand (10,000 registered hosts fit). */
export const MAX_HOSTS_PER_NODE = 10_000;

/** Node metadata `vhds: on_demand` asks for on-demand virtual hosts; anything else is eager. */
export const vhdsModeOf = (node: NodeInfo): VhdsMode =>
  node.metadata.vhds === "on_demand" ? "on_demand" : "eager";

export interface VhdsAnswer {
  /** Resources to (re)send, with the aliases Envoy asked for them by. */
  send: Resource[];
  /** Names of the resources in `send` (the ones with a body). */
  sent: VersionedResource[];
  /** Names the node holds that it must drop. */
  removed: string[];
}

export class VhdsSubscriptions {
  /** Host names the node asked for that an app serves (or served), oldest first. */
  private readonly hosts = new Map<string, true>();
  /**
   * Host names the node asked for that no app served then, oldest first. Envoy 1.40 never asks for
   * a name twice (it keeps the subscription), so if an app comes for one, it is pushed unasked.
   */
  private readonly waiting = new Map<string, true>();
  /** Aliases asked for since the last answer: alias -> authority. */
  private asked = new Map<string, string>();

  constructor(
    readonly mode: VhdsMode,
    private readonly namespace: string,
    private readonly maxHosts = MAX_HOSTS_PER_NODE,
  ) {}

  /** Records the names of a request's resource_names_subscribe until they are answered. */
  subscribe(names: string[]): void {
    const prefix = `${this.namespace}/`;
    for (const n of names) {
      if (n === "*" || n === this.namespace) continue; // the opening subscription
      // Envoy asks by the request's Host; an over-long one is answered "not found" without being kept.
      this.asked.set(n, n.startsWith(prefix) ? n.slice(prefix.length).slice(0, 300) : "");
    }
  }

  /** resource_names_unsubscribe: the node no longer wants these host names. */
  unsubscribe(names: string[]): void {
    const prefix = `${this.namespace}/`;
    for (const n of names) if (n.startsWith(prefix)) this.hosts.delete(n.slice(prefix.length));
  }

  /** Names asked for and not answered yet, or hosts waiting for their clusters before being sent. */
  get pending(): boolean {
    return this.asked.size > 0 || this.deferredPush;
  }

  private deferredPush = false;

  /** Hosts asked for earlier that an app now serves become held (call before pushing clusters). */
  promote(snap: NodeSnapshot): void {
    const resolver = snap.virtualHosts;
    if (!resolver || this.mode !== "on_demand") return;
    for (const h of [...this.waiting.keys()]) if (resolver.held(h).length > 0) this.hold(h);
  }

  /** How many host names the node holds on demand (served ones), and waits for (unserved ones). */
  get size(): number {
    return this.hosts.size;
  }

  get waitingSize(): number {
    return this.waiting.size;
  }

  /**
   * What the node should hold now, and the answers to the names it asked for.
   * `known`: name -> version the node holds.
   */
  answer(
    snap: NodeSnapshot,
    all: Map<string, VersionedResource>,
    known: HeldVersions,
    ready: (clusters: string[]) => boolean = () => true,
  ): VhdsAnswer {
    const resolver = snap.virtualHosts;
    const serving = new Map<string, VersionedResource | undefined>();
    const deferred = new Map<string, string>();
    for (const [alias, authority] of this.asked) {
      const r = authority && resolver ? resolver.resolve(authority) : {};
      if (!r.serving && r.hostname && this.mode === "on_demand") this.wait(r.hostname);
      if (r.serving && r.hostname && this.mode === "on_demand") {
        this.hold(r.hostname);
        // Answer once the node runs the clusters the host routes to: Envoy restarts the request on
        // the answer, and a route to a cluster it is still warming would be a 503.
        if (!ready(resolver!.clustersOf(r.serving))) {
          deferred.set(alias, authority);
          continue;
        }
      }
      serving.set(alias, r.serving);
    }
    this.asked = deferred;

    const wanted = this.mode === "eager" ? all : this.heldResources(snap);
    const aliases = new Map<string, string[]>();
    const notFound: string[] = [];
    for (const [alias, r] of serving) {
      // Eager nodes hold "*" itself, so a host served by "*" apps is never asked for: "not found" is right.
      // So is a host the node already holds as it is: what is missing is a route for the request's
      // path, and answering with the virtual host would make Envoy restart the request for ever.
      if (!r || wanted.get(r.name) !== r || known.get(r.name) === r.version) notFound.push(alias);
      else aliases.set(r.name, [...(aliases.get(r.name) ?? []), ...(alias === r.name ? [] : [alias])]);
    }
    const sent: VersionedResource[] = [];
    this.deferredPush = false;
    for (const [n, r] of wanted) {
      if (known.get(n) === r.version && !aliases.has(n)) continue;
      // A host new to the node waits for its clusters like an asked one (updates do not: eager order).
      if (!known.has(n) && resolver && this.mode === "on_demand" && !ready(resolver.clustersOf(r))) {
        this.deferredPush = true;
        continue;
      }
      sent.push(r);
    }
    const sentNames = new Set(sent.map((r) => r.name));
    const missing = notFound.filter((a) => !sentNames.has(a));
    // A name appears once per response (Envoy refuses duplicates): "not found" wins over a removal.
    const removed = [...known.keys()].filter((n) => !wanted.has(n) && !missing.includes(n));
    const send = [
      ...sent.map((r) => {
        const asked = aliases.get(r.name);
        return asked?.length
          ? create(ResourceSchema, { name: r.name, version: r.version, resource: r.any, aliases: asked })
          : deltaResource(r);
      }),
      // Envoy's convention for an alias no virtual host serves: a resource without a body.
      ...missing.map((a) => create(ResourceSchema, { name: a, aliases: [a] })),
    ];
    return { send, sent, removed };
  }

  /** Holds the host names asked for (before the clusters they route to are pushed). */
  holdAsked(snap: NodeSnapshot): void {
    if (this.mode !== "on_demand" || !snap.virtualHosts) return;
    for (const authority of this.asked.values()) {
      const r = authority ? snap.virtualHosts.resolve(authority) : {};
      if (r.serving && r.hostname) this.hold(r.hostname);
    }
  }

  /** On-demand nodes: the route clusters of the hosts held, the only ones of their kind they get. */
  routeClusters(snap: NodeSnapshot): Set<string> {
    const out = new Set<string>();
    const resolver = snap.virtualHosts;
    if (!resolver) return out;
    for (const h of this.hosts.keys())
      for (const r of resolver.held(h)) for (const c of resolver.clustersOf(r)) out.add(c);
    return out;
  }

  private hold(hostname: string): void {
    this.waiting.delete(hostname);
    this.hosts.delete(hostname);
    this.hosts.set(hostname, true);
    if (this.hosts.size > this.maxHosts) this.hosts.delete(this.hosts.keys().next().value!);
  }

  private wait(hostname: string): void {
    if (this.hosts.has(hostname)) return;
    this.waiting.delete(hostname);
    this.waiting.set(hostname, true);
    if (this.waiting.size > this.maxHosts) this.waiting.delete(this.waiting.keys().next().value!);
  }

  /**
   * The anchor and, per host name held, its virtual hosts. A held name no app serves any more stays
   * held (Envoy will not ask for it again): if an app comes back to it, it is pushed.
   */
  private heldResources(snap: NodeSnapshot): Map<string, VersionedResource> {
    const out = new Map<string, VersionedResource>();
    const resolver = snap.virtualHosts;
    if (!resolver) return out;
    for (const r of resolver.always) out.set(r.name, r);
    this.promote(snap);
    for (const h of this.hosts.keys()) for (const r of resolver.held(h)) out.set(r.name, r);
    return out;
  }
}
