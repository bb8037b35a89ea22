// Bulk and declarative registration: ApplyApps and `sessiongate apps apply`
// through a real xds-server process on a real Redis registry.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import {
  type ApplyAppsResponse,
  AppSpecSchema,
  type ListAppsResponse,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { type RedisHandle, startRedis } from "../harness/index.js";
import { baseSpec, type ControlPlane, cli, startControlPlane, TOKEN } from "./helpers.js";

const spec = (id: string, extra: Record<string, unknown> = {}) => ({ ...baseSpec(id), ...extra });
const wire = (s: Record<string, unknown>) => fromJson(AppSpecSchema, s as never);

describe("ApplyApps and apps apply (Redis registry)", () => {
  let redis: RedisHandle;
  let cp: ControlPlane;
  let api: Client;
  let env: Record<string, string>;
  const list = async () => (await api.unary<unknown, ListAppsResponse>("listApps", {}, 10_000)).apps;
  const apply = (apps: Record<string, unknown>[], o: { prune?: boolean; dryRun?: boolean } = {}) =>
    api.unary<unknown, ApplyAppsResponse>("applyApps", { apps: apps.map(wire), ...o }, 20_000);
  const actions = (r: ApplyAppsResponse) => Object.fromEntries(r.results.map((x) => [x.id, x.action]));

  beforeAll(async () => {
    redis = await startRedis();
    cp = await startControlPlane({ name: "xds-apply", redisUrl: redis.url });
    api = connect(cp.api, TOKEN);
    env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
  });
  afterAll(async () => {
    api?.close();
    await cp?.stop();
  });

  it("creates, keeps an unchanged app's revision, updates only what changed, prunes; a dry run changes nothing", async () => {
    const r1 = await apply([spec("a1"), spec("a2")]);
    expect(actions(r1)).toEqual({ a1: "created", a2: "created" });
    const rev = new Map((await list()).map((a) => [a.spec!.id, a.revision]));

    const dry = await apply([spec("a1"), spec("a2", { upstreams: ["127.0.0.1:9090"] }), spec("a3")], {
      prune: true,
      dryRun: true,
    });
    expect(dry.dryRun).toBe(true);
    expect(actions(dry)).toEqual({ a1: "unchanged", a2: "updated", a3: "created" });
    expect(dry.results.find((x) => x.id === "a2")!.changedFields).toEqual(["upstreams"]);
    expect((await list()).map((a) => [a.spec!.id, a.revision])).toEqual([...rev]); // nothing changed

    const r2 = await apply([spec("a2", { upstreams: ["127.0.0.1:9090"] }), spec("a3")], { prune: true });
    expect(actions(r2)).toEqual({ a2: "updated", a3: "created", a1: "pruned" });
    const after = new Map((await list()).map((a) => [a.spec!.id, a]));
    expect([...after.keys()].sort()).toEqual(["a2", "a3"]);
    expect(after.get("a2")!.spec!.upstreams).toEqual(["127.0.0.1:9090"]);

    // The same batch again: nothing changes, every revision stays.
    const r3 = await apply([spec("a2", { upstreams: ["127.0.0.1:9090"] }), spec("a3")]);
    expect(actions(r3)).toEqual({ a2: "unchanged", a3: "unchanged" });
    for (const a of await list()) expect(a.revision).toBe(after.get(a.spec!.id)!.revision);
    // A new client secret is a change; the same one is not.
    const secret = (s: string) => ({ oidc: { ...(baseSpec("a3").oidc as object), clientSecret: s } });
    expect(actions(await apply([spec("a3", secret("s3cr3t-value"))]))).toEqual({ a3: "unchanged" });
    const r4 = await apply([spec("a3", secret("another-secret"))]);
    expect(r4.results[0].changedFields).toEqual(["oidc.client_secret"]);
  });

  it("one invalid or duplicated spec refuses the whole batch, naming it, and changes nothing", async () => {
    const before = await list();
    await expect(apply([spec("b1"), spec("b2", { hosts: [] })])).rejects.toMatchObject({
      code: 3,
      details: expect.stringMatching(/^apps\[1\] \(b2\): hosts/),
    });
    await expect(apply([spec("b1"), spec("b1")])).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining("duplicate"),
    });
    expect(await list()).toEqual(before);
  });

  it("sessiongate apps apply -f DIR prints each app and a summary; --dry-run and --prune", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-apply-"));
    writeFileSync(join(dir, "one.yaml"), `${YAML.stringify(spec("c1"))}---\n${YAML.stringify(spec("c2"))}`);
    writeFileSync(join(dir, "two.json"), JSON.stringify(spec("c3")));
    writeFileSync(join(dir, "notes.txt"), "not a spec");
    const r = await cli(["apps", "apply", "-f", dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("app/c1 created\n");
    expect(r.stdout).toContain("app/c3 created\n");
    expect(r.stderr).toMatch(/3 app\(s\): 3 created, 0 updated, 0 unchanged, 0 pruned/);

    writeFileSync(join(dir, "two.json"), JSON.stringify(spec("c3", { upstreams: ["127.0.0.1:7070"] })));
    const dry = await cli(["apps", "apply", "-f", dir, "--prune", "--dry-run"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain("app/c3 updated (upstreams) (dry run)\n");
    expect(dry.stdout).toContain('  - upstreams: ["127.0.0.1:8080"]\n  + upstreams: ["127.0.0.1:7070"]\n');
    expect(dry.stdout).toMatch(/app\/a2 pruned \(dry run\)/);
    expect(dry.stderr).toContain("dry run, nothing changed");
    expect((await list()).some((a) => a.spec!.id === "a2")).toBe(true);

    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "id: [unclosed");
    const b = await cli(["apps", "apply", "-f", bad], env);
    expect(b.code).toBe(3);
    expect(b.stderr).toContain("bad.yaml");
  });

  it("apps apply of 3,000 app files: one ApplyAppsStream call, one registry revision per 1,000-app chunk, progress on stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-apply-many-"));
    for (let i = 0; i < 3000; i++) writeFileSync(join(dir, `m${i}.json`), JSON.stringify(spec(`m${i}`)));
    const before = (await api.unary<unknown, ListAppsResponse>("listApps", {}, 10_000)).revision;
    const r = await cli(["apps", "apply", "-f", dir], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/read 3000 app\(s\) from /);
    expect(r.stderr).toMatch(/applying: 3000\/3000 app\(s\) settled/);
    expect(r.stderr).toMatch(/3000 app\(s\): 3000 created, 0 updated, 0 unchanged, 0 pruned/);
    const after = await api.unary<unknown, ListAppsResponse>("listApps", {}, 20_000);
    expect(after.revision - before).toBe(3n);
    const mine = after.apps.filter((a) => /^m\d+$/.test(a.spec!.id));
    expect(mine).toHaveLength(3000);
    expect(new Set(mine.map((a) => a.revision))).toEqual(new Set([before + 1n, before + 2n, before + 3n]));

    // Three bad files among them: every one named, nothing changed.
    writeFileSync(join(dir, "m5.json"), JSON.stringify(spec("m5", { hosts: [] })));
    writeFileSync(join(dir, "m77.json"), JSON.stringify(spec("m77", { upstreams: [] })));
    writeFileSync(join(dir, "m2999.json"), JSON.stringify(spec("m2999", { hosts: ["m0.test"] })));
    writeFileSync(join(dir, "m1.json"), JSON.stringify(spec("m1", { pathPrefix: "/changed" })));
    const bad = await cli(["apps", "apply", "-f", dir], env);
    expect(bad.code).toBe(3);
    for (const id of ["m5", "m77", "m2999"])
      expect(bad.stdout).toMatch(new RegExp(`^app/${id} refused: `, "m"));
    expect(bad.stderr).toMatch(/INVALID_ARGUMENT: 3 of 3000 apps refused, nothing changed/);
    const still = await api.unary<unknown, ListAppsResponse>("listApps", {}, 20_000);
    expect(still.revision).toBe(after.revision);
    expect(still.apps.find((a) => a.spec!.id === "m1")!.spec!.pathPrefix).toBe("/");
  });

  it("an apply over the per-call bound (25,000 apps) is refused with RESOURCE_EXHAUSTED and changes nothing", async () => {
    const before = await list();
    const err = await new Promise<{ code: number; details: string }>((resolve) => {
      const call = api.raw.applyAppsStream(api.metadata());
      call.on("data", () => {});
      call.on("error", resolve);
      call.on("end", () => resolve({ code: 0, details: "accepted" }));
      const ids = Array.from({ length: 25_001 }, (_, i) => wire({ id: `over${i}` }));
      for (let i = 0; i < ids.length; i += 5000) call.write({ apps: ids.slice(i, i + 5000) });
      call.end();
    });
    expect(err).toMatchObject({ code: 8, details: expect.stringContaining("more than 25000 in one apply") });
    expect(await list()).toEqual(before);
  });

  it("an apply and a concurrent UpdateApp of one of its apps: neither write is lost", async () => {
    for (let round = 0; round < 3; round++) {
      const x = `race${round}`;
      const r0 = await apply([spec(x)]);
      const rev0 = r0.results[0].app!.revision;
      const batch = [spec(x, { upstreams: ["127.0.0.1:2222"] })];
      for (let i = 0; i < 1500; i++) batch.push(spec(`${x}-n${i}`));
      const single = { ...spec(x, { upstreams: ["127.0.0.1:1111"] }) };
      const [a, u] = await Promise.allSettled([
        apply(batch),
        api.unary<unknown, { revision: bigint }>("updateApp", { app: wire(single), revision: rev0 }, 20_000),
      ]);
      const now = (await list()).find((z) => z.spec!.id === x)!;
      const port = now.spec!.upstreams[0];
      if (a.status === "fulfilled" && u.status === "fulfilled") {
        // Both succeeded: the update came first and the apply (planned after it) wrote over it, later.
        expect(port).toBe("127.0.0.1:2222");
        expect(now.revision).toBeGreaterThan(u.value.revision);
      } else if (u.status === "fulfilled") {
        // The apply met the update and refused its chunk: the update stands.
        expect((a as PromiseRejectedResult).reason).toMatchObject({ code: 9 });
        expect(port).toBe("127.0.0.1:1111");
      } else {
        // The update came too late (stale revision): the apply stands.
        expect((u as PromiseRejectedResult).reason).toMatchObject({ code: 9 });
        expect(a.status).toBe("fulfilled");
        expect(port).toBe("127.0.0.1:2222");
      }
    }
  });

  it("invariant 8: ApplyAppsStream without a valid token is refused (UNAUTHENTICATED) and changes nothing", async () => {
    const before = await list();
    for (const token of ["", "wrong-token-0123456789abcdef"]) {
      const anon = connect(cp.api, token);
      const err = await new Promise<{ code: number }>((resolve) => {
        const call = anon.raw.applyAppsStream(anon.metadata());
        call.on("data", () => {});
        call.on("error", resolve);
        call.on("end", () => resolve({ code: 0 }));
        call.write({ apps: [wire(spec("anon1"))] });
        call.end();
      });
      anon.close();
      expect(err.code).toBe(16);
    }
    expect(await list()).toEqual(before);
  });
});
