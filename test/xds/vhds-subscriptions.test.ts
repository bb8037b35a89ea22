// Per-node on-demand VHDS state (xds-server/ads/subscriptions.ts) over real
// snapshots from the cache: what a node asking for hosts is sent, and that
// hostile names (unknown, huge, endless variants) leave no state behind.
// In-process, no Envoy (test/xds/ondemand.e2e.test.ts runs a real one).
import { describe, expect, it } from "vitest";
import { VhdsSubscriptions } from "../../xds-server/ads/subscriptions.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import type { AppRecord } from "../../xds-server/registry/types.js";
import { type NodeSnapshot, TYPE_URLS } from "../../xds-server/resource/types.js";
import { cfg, rec } from "./translate-fixture.js";

const NS = "sessiongate_gateway";
const ANCHOR = `${NS}/sessiongate.invalid`;
const app = (id: string, hosts: string[], prefix = "/"): AppRecord =>
  rec(
    {
      id,
      hosts,
      pathPrefix: prefix,
      upstreams: ["10.0.0.1:8080"],
      jwt: { issuer: "https://op.test", audiences: ["api"], remoteJwksUri: "https://op.test/jwks" },
    },
    1,
  );

function snapshot(apps: AppRecord[], revision = 1): NodeSnapshot {
  const cache = new SnapshotCache(cfg, { error: () => {} });
  cache.setRegistry({ revision, apps });
  return cache.forRole({ kind: "gateway", address: "127.0.0.1", port: 10000, vhds: true });
}

/** One request/answer round: the names sent (with aliases), the bodiless "not found" ones, the removals. */
function round(sub: VhdsSubscriptions, snap: NodeSnapshot, known: Map<string, string>, ask: string[] = []) {
  sub.subscribe(ask);
  const a = sub.answer(snap, snap.types.get(TYPE_URLS.vhds)!.resources, known);
  for (const r of a.sent) known.set(r.name, r.version);
  for (const n of a.removed) known.delete(n);
  return {
    sent: a.send.filter((r) => r.resource).map((r) => [r.name, ...r.aliases].join(" <- ")),
    notFound: a.send.filter((r) => !r.resource).map((r) => r.name),
    removed: a.removed,
  };
}

describe("on-demand VHDS subscriptions", () => {
  const apps = [app("a", ["a.test"]), app("b", ["b.test", "b.test:8443"]), app("c", ["c.test"])];

  it("opening (wildcard) request: the anchor only; then each host asked for, by the name Envoy used", () => {
    const snap = snapshot(apps);
    const sub = new VhdsSubscriptions("on_demand", NS);
    const known = new Map<string, string>();
    expect(round(sub, snap, known, [])).toEqual({ sent: [ANCHOR], notFound: [], removed: [] });
    expect(round(sub, snap, known, [`${NS}/a.test:10000`])).toEqual({
      sent: [`${NS}/a.test <- ${NS}/a.test:10000`],
      notFound: [],
      removed: [],
    });
    // b.test brings its port-specific virtual host too (an exact host:port beats b.test:*).
    expect(round(sub, snap, known, [`${NS}/b.test`]).sent.sort()).toEqual([
      `${NS}/b.test`,
      `${NS}/b.test:8443`,
    ]);
    expect([...known.keys()].sort()).toEqual([`${NS}/a.test`, `${NS}/b.test`, `${NS}/b.test:8443`, ANCHOR]);
  });

  it("pushes changes and removals only for the hosts the node holds", () => {
    const sub = new VhdsSubscriptions("on_demand", NS);
    const known = new Map<string, string>();
    round(sub, snapshot(apps), known, [`${NS}/a.test`, `${NS}/c.test`]);
    const next = snapshot(
      [app("a", ["a.test"], "/v2"), app("b", ["b.test"], "/v2"), app("c2", ["c2.test"])],
      2,
    );
    expect(round(sub, next, known)).toEqual({
      sent: [`${NS}/a.test`],
      notFound: [],
      removed: [`${NS}/c.test`],
    });
    // c.test stays asked for (Envoy never asks twice): an app coming back to it is pushed unasked.
    const back = snapshot([app("a", ["a.test"], "/v2"), app("c3", ["c.test"])], 3);
    expect(round(sub, back, known)).toEqual({ sent: [`${NS}/c.test`], notFound: [], removed: [] });
  });

  it("a host the node already holds is answered 'not found' (a path without a route must not loop)", () => {
    const snap = snapshot(apps);
    const sub = new VhdsSubscriptions("on_demand", NS);
    const known = new Map<string, string>();
    round(sub, snap, known, [`${NS}/a.test`]);
    expect(round(sub, snap, known, [`${NS}/a.test`])).toEqual({
      sent: [],
      notFound: [`${NS}/a.test`],
      removed: [],
    });
  });

  it("hostile names: malformed or huge ones keep nothing, unknown ones a bounded list, port variants one entry", () => {
    const snap = snapshot(apps);
    const sub = new VhdsSubscriptions("on_demand", NS, 1000);
    const known = new Map<string, string>();
    round(sub, snap, known, []);
    const hostile = [
      ...Array.from({ length: 5000 }, (_, i) => `${NS}/unknown-${i}.example`),
      `${NS}/${"a".repeat(60_000)}`,
      `${NS}/bad host!`,
      "not-our-namespace/a.test",
      ...Array.from({ length: 1000 }, (_, i) => `${NS}/a.test:${i + 1}`),
    ];
    const r = round(sub, snap, known, hostile);
    expect(r.notFound).toHaveLength(5003); // answered under the name Envoy asked by, then forgotten
    // 1,000 ports of a.test: one host name held, one virtual host sent (with the 1,000 aliases).
    expect(sub.size).toBe(1);
    expect(r.sent).toHaveLength(1);
    expect([...known.keys()].sort()).toEqual([`${NS}/a.test`, ANCHOR]);
    // 5,000 unknown names: the last 1,000 (the cap) remembered in case an app comes; the malformed ones not at all.
    expect(sub.waitingSize).toBe(1000);
    const later = snapshot(
      [...apps, app("late", ["unknown-4999.example"]), app("early", ["unknown-0.example"])],
      2,
    );
    expect(round(sub, later, known).sent).toEqual([`${NS}/unknown-4999.example`]);
  });

  it("apps on * serve any host as a virtual host for that host; the cap drops the oldest hosts first", () => {
    const snap = snapshot([app("wild", ["*"], "/w"), app("a", ["a.test"])]);
    const sub = new VhdsSubscriptions("on_demand", NS, 3);
    const known = new Map<string, string>();
    round(sub, snap, known, []);
    const r = round(sub, snap, known, [`${NS}/x1.example`, `${NS}/x2.example`, `${NS}/x3.example`]);
    expect(r.sent.sort()).toEqual([`${NS}/x1.example`, `${NS}/x2.example`, `${NS}/x3.example`]);
    expect(known.has(`${NS}/*`)).toBe(false); // never the "*" virtual host itself
    const r2 = round(sub, snap, known, [`${NS}/x4.example`]);
    expect(r2).toEqual({ sent: [`${NS}/x4.example`], notFound: [], removed: [`${NS}/x1.example`] });
    expect(sub.size).toBe(3);
  });

  it("eager nodes hold every virtual host and get 'not found' for hosts no app serves", () => {
    const snap = snapshot(apps);
    const sub = new VhdsSubscriptions("eager", NS);
    const known = new Map<string, string>();
    const r = round(sub, snap, known, ["*", `${NS}/nope.example`]);
    expect(r.sent).toHaveLength(snap.types.get(TYPE_URLS.vhds)!.resources.size);
    expect(r.notFound).toEqual([`${NS}/nope.example`]);
    expect(sub.size).toBe(0);
  });
});
