// The BFF takes its apps from the xds-server's BffDirectory stream: register
// an app once through the `sessiongate` CLI and the BFF serves its login with
// the client secret from the registry. Real Redis registry, real xds-server
// processes, real OP, in-process BFF.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import {
  freePort,
  type OpHandle,
  onCleanup,
  type RedisHandle,
  startOP,
  startRedis,
  waitFor,
} from "../harness/index.js";
import { type ControlPlane, cli, startControlPlane, TOKEN, writeApp } from "../xds/helpers.js";
import { bffConfig, internalToken, login, opClient, ports, startLogin, type TestApp } from "./helpers.js";

const BFF_TOKEN = "bff-directory-token-0123456789";
const KEYS = `k1:${randomBytes(32).toString("base64")}`;
const REG: TestApp = { id: "reg", mode: "bff", secret: `reg-secret-${randomBytes(6).toString("hex")}` };
const REG2: TestApp = {
  id: "reg2",
  mode: "tokenExchange",
  secret: `reg2-secret-${randomBytes(6).toString("hex")}`,
};

let redis: RedisHandle;
let op: OpHandle;
let cp: ControlPlane;
let bff: RunningBff;
let publicUrl: string;

const cpArgs = [`--secret-keys=${KEYS}`, `--bff-token=${BFF_TOKEN}`];

function appFile(app: TestApp, o: { secret?: string; authParams?: Record<string, string> } = {}): string {
  return writeApp({
    id: app.id,
    hosts: [`${app.id}.test`],
    path_prefix: "/",
    oidc: {
      issuer: op.issuer,
      client_id: `client-${app.id}`,
      client_secret: o.secret ?? app.secret,
      scopes: ["openid", "profile", "email"],
      public_origin: publicUrl,
      ...(o.authParams ? { auth_params: o.authParams } : {}),
    },
    session: { mode: app.mode },
    upstreams: ["127.0.0.1:9"],
    jwt: { issuer: op.issuer, audiences: ["api"], remote_jwks_uri: op.jwksUri },
  });
}

async function sg(server: ControlPlane, ...args: string[]) {
  const r = await cli(args, { SESSIONGATE_SERVER: server.api, SESSIONGATE_TOKEN: TOKEN });
  if (r.code !== 0) throw new Error(`sessiongate ${args.join(" ")}: ${r.code} ${r.stderr}`);
  return r;
}

/** A counter or gauge sample from the BFF's /metrics (0 when absent). */
async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${bff.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

const loginStatus = async (id: string) =>
  (await fetch(`${publicUrl}/auth/${id}/login`, { redirect: "manual" })).status;

function bffFor(registryAddress: string, publicPort: number) {
  return validateConfig(
    bffConfig({
      publicPort,
      redisUrl: redis.url,
      issuer: op.issuer,
      apps: [],
      extra: {
        apps: [],
        registry: { address: registryAddress, token: BFF_TOKEN, backoff_min_ms: 100, backoff_max_ms: 800 },
      },
    }),
  );
}

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  redis = await startRedis();
  op = await startOP({ clients: [opClient(publicUrl, REG), opClient(publicUrl, REG2)], ttl: 120 });
  cp = await startControlPlane({ name: "xds-bff-registry", redisUrl: redis.url, extraArgs: cpArgs });
  bff = await startBff(bffFor(cp.api, publicPort), { defaultMetrics: false });
  onCleanup(() => bff.close());
});

afterAll(async () => {
  await bff?.close();
});

describe("BFF apps from the registry", () => {
  it("/readyz is 503 until the first snapshot arrives", async () => {
    const other = await startBff(bffFor(`127.0.0.1:${await freePort()}`, 0), { defaultMetrics: false });
    try {
      const r = await fetch(`${other.internalUrl}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toMatchObject({ error: "registry_not_synced" });
    } finally {
      await other.close();
    }
    await waitFor(
      "the BFF synced",
      async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200,
      15_000,
    );
    expect(await metric("sessiongate_bff_registry_connected")).toBe(1);
  });

  it("an app registered via the CLI is served: 302 to the OP with its client_id, and a full login works", async () => {
    expect(await loginStatus(REG.id)).toBe(404);
    await sg(cp, "apps", "register", "-f", appFile(REG));
    await waitFor("reg served", async () => (await loginStatus(REG.id)) === 302, 15_000);
    const start = await startLogin(publicUrl, REG.id);
    const loc = new URL(start.location);
    expect(loc.origin).toBe(op.issuer);
    expect(loc.searchParams.get("client_id")).toBe("client-reg");
    expect(loc.searchParams.get("redirect_uri")).toBe(`${publicUrl}/auth/reg/callback`);
    const s = await login(publicUrl, op, REG.id);
    const t = await internalToken(bff.internalUrl, REG.id, s.session);
    expect(t.status).toBe(200);
  });

  it("an updated secret is used by the next code exchange", async () => {
    const before = await metric('sessiongate_bff_registry_app_updates_total{type="modified"}');
    await sg(cp, "apps", "register", "-f", appFile(REG, { secret: "a-wrong-secret-0123456789" }));
    await waitFor(
      "the update applied",
      async () => (await metric('sessiongate_bff_registry_app_updates_total{type="modified"}')) > before,
      15_000,
    );
    await expect(login(publicUrl, op, REG.id)).rejects.toThrow(/callback answered 400/);

    await sg(cp, "apps", "register", "-f", appFile(REG));
    await waitFor(
      "the fix applied",
      async () => (await metric('sessiongate_bff_registry_app_updates_total{type="modified"}')) > before + 1,
      15_000,
    );
    const s = await login(publicUrl, op, REG.id);
    expect(s.session).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("a deleted app answers 404 unknown_app (internal endpoint: 400 unknown_app)", async () => {
    await sg(cp, "apps", "delete", REG.id);
    await waitFor("reg gone", async () => (await loginStatus(REG.id)) === 404, 15_000);
    const r = await fetch(`${publicUrl}/auth/${REG.id}/login`, { redirect: "manual" });
    expect(await r.json()).toMatchObject({ error: "unknown_app" });
    const i = await internalToken(bff.internalUrl, REG.id, "x".repeat(43));
    expect(i.status).toBe(400);
    expect(await i.json()).toMatchObject({ error: "unknown_app" });
  });

  it("keeps serving known apps while the xds-server is down, and picks up changes made meanwhile", async () => {
    await sg(cp, "apps", "register", "-f", appFile(REG));
    await waitFor("reg served again", async () => (await loginStatus(REG.id)) === 302, 15_000);
    await cp.kill();
    await waitFor(
      "stream down",
      async () => (await metric("sessiongate_bff_registry_connected")) === 0,
      15_000,
    );
    expect((await fetch(`${bff.internalUrl}/readyz`)).status).toBe(200);
    const s = await login(publicUrl, op, REG.id);
    expect((await internalToken(bff.internalUrl, REG.id, s.session)).status).toBe(200);

    // Another replica on the same Redis registry changes things meanwhile.
    const other = await startControlPlane({
      name: "xds-bff-registry-b",
      redisUrl: redis.url,
      extraArgs: cpArgs,
    });
    await sg(other, "apps", "register", "-f", appFile(REG, { authParams: { ui_locales: "en-GB" } }));
    await sg(other, "apps", "register", "-f", appFile(REG2));
    await other.stop();
    expect(await loginStatus(REG2.id)).toBe(404);

    await cp.restart();
    await waitFor("reg2 served after the restart", async () => (await loginStatus(REG2.id)) === 302, 20_000);
    const loc = new URL((await startLogin(publicUrl, REG.id)).location);
    expect(loc.searchParams.get("ui_locales")).toBe("en-GB");
    expect(await metric("sessiongate_bff_registry_connected")).toBe(1);
    const s2 = await login(publicUrl, op, REG2.id);
    expect(s2.session).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
