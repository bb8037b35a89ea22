// What one app change costs a Delta gateway, in bytes per resource type: the
// same at 2,000 apps as at 100 (VHDS, per-resource versions), while a SotW
// gateway's RouteConfiguration grows with the registry. In-process (the
// translator and the cache, no Envoy): a byte count, not a timing.
import { describe, expect, it } from "vitest";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import type { AppRecord } from "../../xds-server/registry/types.js";
import { type NodeSnapshot, PUSH_ORDER } from "../../xds-server/resource/types.js";
import type { NodeRole } from "../../xds-server/translate/index.js";
import { cfg, rec } from "./translate-fixture.js";

const app = (i: number, upstream = "10.0.0.1:8080", revision = i + 1): AppRecord =>
  rec(
    {
      id: `app-${i}`,
      hosts: [`app-${i}.example.com`],
      pathPrefix: "/",
      upstreams: [upstream],
      jwt: { issuer: "https://op.test", audiences: ["api"], remoteJwksUri: "https://op.test/jwks" },
    },
    revision,
  );

/** Bytes a Delta node holding `a` is sent to reach `b`, per type (short name). */
function deltaBytes(a: NodeSnapshot, b: NodeSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of PUSH_ORDER) {
    const before = a.types.get(t)?.resources ?? new Map();
    let n = 0;
    for (const [name, r] of b.types.get(t)?.resources ?? new Map())
      if (before.get(name)?.version !== r.version) n += r.any.value.length + name.length;
    for (const name of before.keys()) if (!b.types.get(t)?.resources.has(name)) n += name.length;
    out[t.split(".").at(-1)!] = n;
  }
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((x, y) => x + y, 0);
const log = { error: () => {} };

function cost(n: number, role: NodeRole) {
  const cache = new SnapshotCache(cfg, log);
  const apps = Array.from({ length: n }, (_, i) => app(i));
  cache.setRegistry({ revision: 1, apps });
  const s0 = cache.forRole(role);
  cache.setRegistry({ revision: 2, apps: [...apps, app(n)] });
  const added = deltaBytes(s0, cache.forRole(role));
  const s1 = cache.forRole(role);
  // An update gets a new revision, as every store write does (the cache keys an app's resources by it).
  cache.setRegistry({ revision: 3, apps: [app(0, "10.0.0.2:8080", n + 2), ...apps.slice(1), app(n)] });
  const updated = deltaBytes(s1, cache.forRole(role));
  return { added, updated };
}

const delta: NodeRole = { kind: "gateway", address: "127.0.0.1", port: 10000, vhds: true };
const sotw: NodeRole = { kind: "gateway", address: "127.0.0.1", port: 10000 };

describe("one app change, Delta gateway (VHDS)", () => {
  it("sends only that app's cluster, endpoints and virtual host: the same bytes at 2,000 apps as at 100", () => {
    const small = cost(100, delta);
    const large = cost(2000, delta);
    for (const c of [small, large]) {
      expect(c.added.Listener).toBe(0);
      expect(c.added.RouteConfiguration).toBe(0);
      expect(c.added.TypedExtensionConfig).toBe(0); // a known issuer and audience: jwt_authn unchanged
      expect(c.added.VirtualHost).toBeGreaterThan(0);
      expect(c.updated.Cluster + c.updated.Listener + c.updated.RouteConfiguration).toBe(0);
      expect(c.updated.ClusterLoadAssignment).toBeGreaterThan(0);
    }
    // Names grow by a digit or two; nothing grows with the number of apps.
    expect(Math.abs(total(large.added) - total(small.added))).toBeLessThan(64);
    expect(Math.abs(total(large.updated) - total(small.updated))).toBeLessThan(64);
    expect(total(large.added)).toBeLessThan(16 * 1024);
  });

  it("a SotW gateway is re-sent the whole RouteConfiguration (it grows with the registry)", () => {
    const small = cost(100, sotw);
    const large = cost(2000, sotw);
    expect(large.added.RouteConfiguration).toBeGreaterThan(10 * small.added.RouteConfiguration);
    expect(large.added.VirtualHost).toBe(0);
  });
});
