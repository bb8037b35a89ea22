// Batch writes in the registry (real Redis, and the in-memory store) and the
// apply planner over them: one revision and one change notification per
// chunk, every check before any write with every failure named, one JWKS
// discovery per issuer, and an apply racing a single update losing neither.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApplyDeps, applyApps } from "../../xds-server/api/apply.js";
import type { BatchError, BatchOp } from "../../xds-server/registry/batch.js";
import { MemoryStore } from "../../xds-server/registry/memory.js";
import { RedisStore } from "../../xds-server/registry/redis.js";
import { SecretBox } from "../../xds-server/registry/secrets.js";
import type { Store } from "../../xds-server/registry/store.js";
import type { AppSpec } from "../../xds-server/registry/types.js";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { type RedisHandle, startRedis } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { baseSpec } from "./helpers.js";

let redis: RedisHandle;
const closers: (() => unknown)[] = [];
let prefixN = 0;

/** Two replicas of one fresh registry (own key prefix) and a raw subscriber counting its messages. */
async function registry() {
  const prefix = `b${++prefixN}:`;
  const mk = async () => {
    const s = new RedisStore({ url: redis.url, prefix, pollMs: 60_000 });
    await s.start();
    closers.push(() => s.close());
    return s;
  };
  const sub = new Redis(redis.url);
  closers.push(() => sub.disconnect());
  const messages: string[] = [];
  sub.on("message", (_c, m) => messages.push(m));
  await sub.subscribe(`${prefix}changes`);
  return { a: await mk(), b: await mk(), messages };
}

const raw = (id: string, extra: Record<string, unknown> = {}) =>
  ({ ...(baseSpec(id) as object), hosts: [`${id}.test`], ...extra }) as RawAppSpec;
const spec = (id: string, host = `${id}.test`): AppSpec => validateApp(raw(id, { hosts: [host] })).spec;
const create = (id: string, host?: string): BatchOp => ({
  op: "create",
  spec: spec(id, host),
  clientSecret: "x",
});

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const c of closers) await c();
});

describe("RedisStore batch writes", () => {
  it("a batch of 300 creates is one revision bump and one pub/sub message; a replica sees one change", async () => {
    const { a, b, messages } = await registry();
    const changes: number[] = [];
    b.onChange((_s, evs) => changes.push(evs.length));
    const before = a.snapshot().revision;
    const rev = await a.applyBatch(Array.from({ length: 300 }, (_, i) => create(`m${i}`)));
    expect(rev).toBe(before + 1);
    expect(a.snapshot().apps).toHaveLength(300);
    expect(new Set(a.snapshot().apps.map((x) => x.revision))).toEqual(new Set([rev]));
    await expect.poll(() => b.snapshot().revision, { timeout: budget(5000) }).toBe(rev);
    expect(changes).toEqual([300]);
    await expect.poll(() => messages, { timeout: budget(5000) }).toEqual([String(rev)]);
  });

  it("applyBatches: one revision and one message per chunk; the writer's own snapshot changes once", async () => {
    const { a, b, messages } = await registry();
    const mine: number[] = [];
    a.onChange((s) => mine.push(s.revision));
    const revs: number[] = [];
    const chunks = [0, 1, 2].map((c) => Array.from({ length: 100 }, (_, i) => create(`c${c}-${i}`)));
    await a.applyBatches(chunks, (_i, r) => revs.push(r));
    expect(revs).toEqual([1, 2, 3]);
    expect(mine).toEqual([3]);
    const byRev = new Map<number, number>();
    for (const x of a.snapshot().apps) byRev.set(x.revision, (byRev.get(x.revision) ?? 0) + 1);
    expect([...byRev]).toEqual([
      [1, 100],
      [2, 100],
      [3, 100],
    ]);
    await expect.poll(() => messages, { timeout: budget(5000) }).toEqual(["1", "2", "3"]);
    await expect.poll(() => b.snapshot().apps.length, { timeout: budget(5000) }).toBe(300);
  });

  it("a refused batch writes nothing, bumps nothing, publishes nothing, and names every failure", async () => {
    const { a, messages } = await registry();
    const r1 = await a.applyBatch([create("r1"), create("r2")]);
    await expect.poll(() => messages.length, { timeout: budget(5000) }).toBe(1);
    const err: BatchError = await a
      .applyBatch([
        create("r3"),
        create("r4", "r1.test"), // r1's host
        { op: "update", spec: spec("r2"), clientSecret: "x", expectedRevision: r1 + 5 },
        { op: "delete", id: "gone", expectedRevision: 0 },
        create("r1"),
      ])
      .then(
        () => {
          throw new Error("accepted");
        },
        (e: BatchError) => e,
      );
    expect(err.failures.map((f) => [f.id, f.kind])).toEqual([
      ["r2", "FAILED_PRECONDITION"],
      ["gone", "NOT_FOUND"],
      ["r1", "ALREADY_EXISTS"],
      ["r4", "FAILED_PRECONDITION"],
    ]);
    expect(err.message).toMatch(/^4 conflict\(s\), nothing in this write changed: /);
    expect(a.snapshot().apps.map((x) => x.spec.id)).toEqual(["r1", "r2"]);
    expect(Number(await a.snapshot().revision)).toBe(r1);
    // Two apps swap hosts in one batch: the routes each gives up are free for the other.
    const swapped = await a.applyBatch([
      { op: "update", spec: spec("r1", "r2.test"), clientSecret: "x", expectedRevision: r1 },
      { op: "update", spec: spec("r2", "r1.test"), clientSecret: "x", expectedRevision: r1 },
    ]);
    expect(a.snapshot().apps.map((x) => [x.spec.id, x.spec.hosts[0], x.revision])).toEqual([
      ["r1", "r2.test", swapped],
      ["r2", "r1.test", swapped],
    ]);
    await expect.poll(() => messages.length, { timeout: budget(5000) }).toBe(2);
  });
});

/** A loopback issuer host: /<name>/.well-known/openid-configuration for any name, fetches counted. */
async function issuers(): Promise<{ base: string; fetches: Map<string, number>; server: Server }> {
  const fetches = new Map<string, number>();
  let base = "";
  const server = createServer((req, res) => {
    const name = (req.url ?? "").split("/")[1] ?? "";
    fetches.set(name, (fetches.get(name) ?? 0) + 1);
    if (name.startsWith("down")) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ issuer: `${base}/${name}`, jwks_uri: `${base}/${name}/jwks` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, fetches, server };
}

const secrets = SecretBox.ephemeral();
function deps(store: Store, extra: Partial<ApplyDeps> = {}): ApplyDeps {
  return {
    store,
    secrets,
    bffPrefix: "/auth",
    validate: (r, e) => validateApp(r, e, "/auth"),
    seal: (id, _given, v) => secrets.seal(id, v),
    ...extra,
  };
}

/** A spec whose JWKS URI is left out, to be discovered from `issuer`. */
const discovered = (id: string, issuer: string) =>
  raw(id, { jwt: { issuer, audiences: ["api"] }, oidc: { ...(baseSpec(id).oidc as object), issuer } });

describe("applyApps over the batch writes", () => {
  it("500 apps of one issuer: one discovery fetch; in chunks of 200, three revisions", async () => {
    const { a } = await registry();
    const { base, fetches } = await issuers();
    const apps = Array.from({ length: 500 }, (_, i) => discovered(`j${i}`, `${base}/one`));
    const settled: number[] = [];
    const out = await applyApps(
      deps(a, { chunkSize: 200 }),
      { apps, prune: false, dryRun: false },
      (rs, rev) => settled.push(rev, rs.length),
    );
    expect(fetches.get("one")).toBe(1);
    expect(settled).toEqual([1, 200, 2, 200, 3, 100]);
    expect(
      out.every((r) => r.action === "created" && r.record?.spec.jwt.remoteJwksUri === `${base}/one/jwks`),
    ).toBe(true);
    // The same batch again: nothing written, every revision kept.
    const again = await applyApps(deps(a), { apps, prune: false, dryRun: false });
    expect(new Set(again.map((r) => r.action))).toEqual(new Set(["unchanged"]));
    expect(a.snapshot().revision).toBe(3);
  });

  it("every bad app is named at once and nothing is written: invalid specs, a failing issuer, the issuer bound, a taken host", async () => {
    const store = new MemoryStore("/auth");
    await store.start();
    const { base, fetches } = await issuers();
    await store.create(spec("owner", "taken.test"), "x");
    const apps = [
      raw("ok1"),
      raw("bad1", { hosts: [] }),
      raw("ok2"),
      raw("bad2", { upstreams: [] }),
      discovered("down1", `${base}/down`),
      discovered("down2", `${base}/down`),
      raw("thief", { hosts: ["taken.test"] }),
      raw("ok1"),
      // 32 issuers discovered, the 33rd refused.
      ...Array.from({ length: 32 }, (_, i) => discovered(`iss${i}`, `${base}/i${i}`)),
    ];
    const err = await applyApps(deps(store), { apps, prune: false, dryRun: false }).then(
      () => {
        throw new Error("accepted");
      },
      (e: Error & { code: number; refused: { id: string; error: string }[] }) => e,
    );
    expect(err.code).toBe(3); // INVALID_ARGUMENT
    expect(err.refused.map((r) => r.id)).toEqual(["bad1", "bad2", "down1", "down2", "thief", "ok1", "iss31"]);
    expect(err.message).toMatch(/^7 of 40 apps refused, nothing changed: apps\[1\] \(bad1\): hosts/);
    expect(err.refused.find((r) => r.id === "iss31")!.error).toContain("32 issuers");
    expect(err.refused.find((r) => r.id === "down2")!.error).toContain("HTTP 503");
    expect(fetches.get("down")).toBe(1);
    expect(store.snapshot().apps.map((x) => x.spec.id)).toEqual(["owner"]);
  });

  it("an UpdateApp between planning and writing: the apply's chunk is refused, the update kept; re-run applies", async () => {
    const { a } = await registry();
    const x = await a.create(spec("x"), "x");
    const { base } = await issuers();
    // The discovery fetch runs while the apply plans: the single update lands then.
    const racing = async (url: string | URL | Request, init?: RequestInit) => {
      await a.update({ ...spec("x"), upstreams: [{ host: "127.0.0.1", port: 1111 }] }, "x", x.revision);
      return fetch(url, init);
    };
    const batch = { apps: [raw("x", { upstreams: ["127.0.0.1:2222"] }), discovered("y", `${base}/race`)] };
    await expect(
      applyApps(deps(a, { jwksDiscovery: { fetch: racing as typeof fetch } }), {
        ...batch,
        prune: false,
        dryRun: false,
      }),
    ).rejects.toMatchObject({
      kind: "FAILED_PRECONDITION",
      message: expect.stringMatching(/x: revision: app x is at revision 2, not 1 .*another writer/),
    });
    expect(a.snapshot().apps.map((r) => [r.spec.id, r.spec.upstreams[0].port])).toEqual([["x", 1111]]);
    // A re-run plans against the update and applies over it, at a later revision.
    const updated = a.snapshot().apps[0].revision;
    const out = await applyApps(deps(a), { ...batch, prune: false, dryRun: false });
    expect(out.map((r) => r.action).sort()).toEqual(["created", "updated"]);
    const now = a.snapshot().apps.find((r) => r.spec.id === "x")!;
    expect([now.spec.upstreams[0].port, now.revision > updated]).toEqual([2222, true]);
    // An UpdateApp at the revision it read before the apply: refused, the apply's write kept.
    await expect(a.update({ ...spec("x") }, "x", updated)).rejects.toMatchObject({
      kind: "FAILED_PRECONDITION",
    });
    expect(a.snapshot().apps.find((r) => r.spec.id === "x")!.spec.upstreams[0].port).toBe(2222);
  });
});
