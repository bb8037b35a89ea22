// The incremental gateway snapshot (xds-server/cache/incremental.ts) against a
// full translate(): over a seeded sequence of random registry changes (adds,
// updates, deletes, new issuers, audiences and claim headers, ext_authz on
// and off, apps on "*", app groups), every type of a Delta (VHDS) and a SotW
// gateway has the same resources with the same versions, encodings and app
// attribution, and the same type versions, and each type says exactly which
// names changed. On-demand nodes share the Delta role's snapshot and read it
// through its host resolver (cache/vhds-resolve.ts): that resolves every host
// as one built from a full translate() does.
import { describe, expect, it } from "vitest";
import { encodeResource } from "../../xds-server/cache/encode.js";
import { typeVersion, versionOf } from "../../xds-server/cache/incremental.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import { virtualHostResolver } from "../../xds-server/cache/vhds-resolve.js";
import type { AppRecord, RegistrySnapshot } from "../../xds-server/registry/types.js";
import type { RawAppSpec } from "../../xds-server/registry/validate.js";
import {
  type NodeSnapshot,
  PUSH_ORDER,
  TYPE_URLS,
  type VersionedResource,
} from "../../xds-server/resource/types.js";
import { type NodeRole, translate } from "../../xds-server/translate/index.js";
import { vhdsName } from "../../xds-server/translate/routes.js";
import { prng } from "./fake-call.js";
import { cfg, snap as fixture, jwt, rec } from "./translate-fixture.js";

/** What the cache built before it was incremental: translate() and a version per resource. */
function fullBuild(snap: RegistrySnapshot, role: NodeRole) {
  return fullTypes(translate(snap, cfg, role));
}

function fullTypes(set: ReturnType<typeof translate>) {
  return new Map(
    PUSH_ORDER.map((t) => {
      const resources = new Map<string, VersionedResource>(
        set[t].map((r) => [
          r.name,
          {
            name: r.name,
            version: versionOf(t, JSON.stringify(r.json)),
            any: encodeResource(t, r.json),
            apps: r.apps,
          },
        ]),
      );
      return [t, { version: typeVersion(resources), resources }] as const;
    }),
  );
}

/** mulberry32: a small seeded PRNG, so a failure replays. */
describe("incremental gateway snapshots", () => {
  // Stores say which apps a write changed (RegistrySnapshot.changes): the builder then looks at those only.
  it.each([
    ["whole registries", false],
    ["the registry's change sets", true],
  ])(
    "equal a full translate() after every one of 60 random changes, Delta (VHDS) and SotW, from %s",
    (_how, withChanges) => {
      const rnd = prng(14);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
      const issuers = [
        ["https://op.test", "https://op.test/jwks"],
        ["https://other.test", "https://other.test/keys"],
      ];
      let revision = fixture.revision;
      let apps: AppRecord[] = [...fixture.apps];
      let n = 0;
      const spec = (id: string, step: number): RawAppSpec => {
        // New issuers and audiences appear as the sequence goes on: shared inputs change.
        if (step % 9 === 0) issuers.push([`https://op${step}.test`, `https://op${step}.test/jwks`]);
        const [iss, uri] = pick(issuers);
        return {
          id,
          hosts: rnd() < 0.08 ? ["*"] : [pick(["h1.test", "h2.test", "shop.example.com", `own-${id}.test`])],
          pathPrefix: `/${id}`,
          upstreams: [rnd() < 0.8 ? `10.1.0.${1 + Math.floor(rnd() * 200)}:80` : "svc.internal:8080"],
          jwt: {
            ...jwt(
              iss,
              uri,
              rnd() < 0.3 ? [{ claim: "sub", header: pick(["x-user", "x-sub", "x-who"]) }] : [],
            ),
            audiences: [pick(["api", "web", `aud-${step % 5}`])],
          },
          ...(rnd() < 0.3
            ? {
                extAuthz: {
                  target: `127.0.0.1:${9100 + step}`,
                  timeoutMs: 300,
                  failMode: pick(["open", "closed"]),
                },
              }
            : {}),
          ...(rnd() < 0.3 ? { publicPaths: [`/${id}/assets/*`] } : {}),
          ...(rnd() < 0.25 ? { group: pick(["g1", "g2"]) } : {}),
        } as RawAppSpec;
      };
      const roles: NodeRole[] = [
        { kind: "gateway", address: "0.0.0.0", port: 10000, vhds: true },
        { kind: "gateway", address: "0.0.0.0", port: 10000 },
      ];
      const cache = new SnapshotCache(cfg, { error: () => {} });
      const before = new Map(roles.map((r) => [JSON.stringify(r), fullBuild(fixture, r)]));
      cache.setRegistry(fixture);
      for (const r of roles) cache.forRole(r);
      const kinds: Record<string, number> = {};
      let last: RegistrySnapshot = fixture;
      for (let step = 1; step <= 60; step++) {
        revision += 1;
        const op = apps.length < 4 ? "add" : pick(["add", "add", "update", "update", "delete"]);
        kinds[op] = (kinds[op] ?? 0) + 1;
        let changedId: string;
        if (op === "add") {
          changedId = `a${++n}`;
          apps.push(rec(spec(changedId, step), revision));
        } else {
          const victim = pick(apps);
          changedId = victim.spec.id;
          apps = apps.filter((a) => a !== victim);
          if (op === "update") {
            const raw = victim.spec.id.startsWith("a") ? spec(victim.spec.id, step) : null;
            // A fixture app is updated with its own spec: a new revision of the same content.
            apps.push(raw ? rec(raw, revision) : { ...victim, spec: { ...victim.spec }, revision });
          }
        }
        apps.sort((a, b) => (a.spec.id < b.spec.id ? -1 : 1));
        const snap: RegistrySnapshot = {
          revision,
          apps: [...apps],
          ...(withChanges ? { changes: { from: last, ids: new Set([changedId]) } } : {}),
        };
        last = snap;
        cache.setRegistry(snap);
        for (const role of roles) {
          const got = cache.forRole(role).types;
          const want = fullBuild(snap, role);
          const prev = before.get(JSON.stringify(role))!;
          for (const t of PUSH_ORDER) {
            const g = got.get(t)!;
            const w = want.get(t)!;
            const where = `step ${step} (${op}), ${role.kind}${"vhds" in role ? " vhds" : ""}, ${t}`;
            // The same names; their order in a type is not part of the contract (translate() sorts them).
            expect([...g.resources.keys()].sort(), where).toEqual([...w.resources.keys()]);
            for (const [name, r] of w.resources) {
              const h = g.resources.get(name)!;
              expect(h.version, `${where} ${name}`).toBe(r.version);
              expect(h.apps, `${where} ${name}`).toEqual(r.apps);
              expect(
                Buffer.from(h.any.value).equals(Buffer.from(r.any.value)),
                `${where} ${name} bytes`,
              ).toBe(true);
            }
            expect(g.version, where).toBe(w.version);
            // The names the streams will compare: exactly those whose version moved.
            const moved = new Set(
              [...w.resources]
                .filter(([k, r]) => prev.get(t)!.resources.get(k)?.version !== r.version)
                .map(([k]) => k),
            );
            for (const k of prev.get(t)!.resources.keys()) if (!w.resources.has(k)) moved.add(k);
            expect([...(g.changes?.names ?? [])].sort(), where).toEqual([...moved].sort());
          }
          if (role.kind === "gateway" && role.vhds) sameResolution(cache.forRole(role), snap, role, step);
          before.set(JSON.stringify(role), want);
        }
      }
      expect(kinds.add).toBeGreaterThan(5);
      expect(kinds.update).toBeGreaterThan(5);
      expect(kinds.delete).toBeGreaterThan(3);
      expect(apps.some((a) => a.spec.group)).toBe(true);
    },
  );
});

/** What an on-demand node gets for each host (registered, with a port, unknown, "*"): as from a full build. */
function sameResolution(got: NodeSnapshot, snap: RegistrySnapshot, role: NodeRole, step: number): void {
  const set = translate(snap, cfg, role);
  const types = fullTypes(set);
  const want = virtualHostResolver(
    types.get(TYPE_URLS.vhds)!.resources,
    set[TYPE_URLS.vhds].find((r) => r.name === vhdsName("*"))?.json,
    types.get(TYPE_URLS.cluster)!.resources,
  );
  const g = got.virtualHosts;
  expect(g, `step ${step}: the Delta snapshot has a host resolver`).toBeDefined();
  const same = (r: VersionedResource | undefined) => r && { name: r.name, version: r.version, apps: r.apps };
  expect(g!.always.map(same)).toEqual(want.always.map(same));
  const hosts = new Set(snap.apps.flatMap((a) => a.spec.hosts));
  for (const h of [...hosts, "unknown.test", "h1.test:8443", "*"]) {
    const a = g!.resolve(h);
    const b = want.resolve(h);
    expect({ hostname: a.hostname, serving: same(a.serving) }, `step ${step} ${h}`).toEqual({
      hostname: b.hostname,
      serving: same(b.serving),
    });
    if (a.serving) expect(g!.clustersOf(a.serving), `step ${step} ${h}`).toEqual(want.clustersOf(b.serving!));
    if (a.serving)
      expect(Buffer.from(a.serving.any.value).equals(Buffer.from(b.serving!.any.value)), `${h} bytes`).toBe(
        true,
      );
    const hn = a.hostname ?? h;
    expect(g!.held(hn).map(same), `step ${step} held ${hn}`).toEqual(want.held(hn).map(same));
  }
}
