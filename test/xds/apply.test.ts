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
});
