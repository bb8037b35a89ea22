// Real Envoy, real control plane process, real Redis: register with the CLI,
// traffic flows with jwt_authn enforcing; update; delete; no Envoy restart.
// Runs the same scenario over the Delta and the SotW bootstrap.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startRedis,
} from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  get,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  until,
  writeApp,
} from "./helpers.js";

describe.each([
  ["delta", "gateway-ads.yaml"],
  ["sotw", "gateway-ads-sotw.yaml"],
])("gateway over %s ADS", (mode, bootstrap) => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo1: EchoHandle;
  let echo2: EchoHandle;
  let jwks: Jwks;
  let port: number;
  let env: Record<string, string>;
  let uptime0: number;
  const host = `${mode}.test`;

  beforeAll(async () => {
    const redis = await startRedis();
    cp = await startControlPlane({ name: `xds-${mode}`, redisUrl: redis.url });
    env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
    [echo1, echo2, jwks] = await Promise.all([
      startEcho({ name: "echo1" }),
      startEcho({ name: "echo2" }),
      startJwks(),
    ]);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", bootstrap),
      name: `gw-${mode}`,
      vars: {
        NODE_ID: `gw-${mode}`,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    uptime0 = envoy.proc.pid;
  });

  afterAll(async () => {
    await envoy?.stop();
  });

  it("register with the CLI -> served through Envoy, jwt_authn enforcing", async () => {
    const file = writeApp(appSpec("shop", { host, prefix: "/api", upstream: echo1.port, jwks }));
    const r = await cli(["apps", "register", "-f", file], env);
    expect(r.stderr).toContain("created app shop");
    expect(r.code).toBe(0);
    const token = await jwks.sign();
    await until(port, "/api/items", { host, authorization: `Bearer ${token}` }, 200);
    const last = echo1.requests.at(-1)!;
    expect(last.path).toBe("/api/items");
    expect(last.headers["x-user"], JSON.stringify(last.headers)).toBe("alice");
    expect(last.headers["x-sessiongate-app"]).toBe("shop");
    // A client cannot forge the identity header jwt_authn sets from the token.
    await get(port, "/api/items", {
      host,
      authorization: `Bearer ${token}`,
      "x-user": "mallory",
      "x-sessiongate-app": "evil",
    });
    expect(echo1.requests.at(-1)!.headers["x-user"]).toBe("alice");
    expect(echo1.requests.at(-1)!.headers["x-sessiongate-app"]).toBe("shop");
    // The repeated token was served from jwt_authn's cache of verified tokens
    // (its claims still became headers, as just checked).
    const hits = [...(await envoy.stats()).entries()].filter(([k]) => k.endsWith("jwt_authn.jwt_cache_hit"));
    expect(hits.reduce((n, [, v]) => n + v, 0)).toBeGreaterThan(0);
    // No token, a token for another audience, a forged token: refused by jwt_authn.
    expect((await get(port, "/api/items", { host })).status).toBe(401);
    expect(
      (
        await get(port, "/api/items", {
          host,
          authorization: `Bearer ${await jwks.sign({}, { aud: "other" })}`,
        })
      ).status,
    ).toBe(403);
    expect(
      (await get(port, "/api/items", { host, authorization: `Bearer ${token.slice(0, -4)}AAAA` })).status,
    ).toBe(401);
    // Outside the prefix, or another host: no route.
    expect((await get(port, "/apix", { host, authorization: `Bearer ${token}` })).status).toBe(404);
    expect(
      (await get(port, "/api/items", { host: "other.test", authorization: `Bearer ${token}` })).status,
    ).toBe(404);
  });

  it("routes <prefix>/auth to the BFF without a JWT; the wasm filter fails closed on a cookie", async () => {
    // No BFF runs here: the BFF route answers 503 from Envoy (no healthy upstream), not 401.
    const r = await get(port, "/api/auth/login", { host });
    expect(r.status).toBe(503);
    // A session cookie and no authorization: the wasm filter asks the BFF internal
    // endpoint (down) and must answer 503, never pass the cookie upstream.
    const before = echo1.requests.length;
    const c = await get(port, "/api/items", { host, cookie: `__Host-sg-shop=${"a".repeat(43)}` });
    expect(c.status).toBe(503);
    expect(echo1.requests.length).toBe(before);
    const dump = JSON.stringify(await envoy.configDump());
    expect(dump).toContain("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
    expect(dump).toContain("sessiongate_bff_internal");
  });

  it("underscore twins of identity headers never reach an upstream: x_user_sub is refused with 400", async () => {
    const token = await jwks.sign();
    const before = echo1.requests.length;
    const r = await get(port, "/api/items", { host, authorization: `Bearer ${token}`, x_user_sub: "admin" });
    expect(r.status).toBe(400);
    expect(echo1.requests.length).toBe(before);
    // Another app's session cookie (no session cookie of this route's app): dropped, not forwarded.
    await get(port, "/api/items", {
      host,
      authorization: `Bearer ${token}`,
      cookie: `__Host-sg-other=${"b".repeat(43)}; keep=1`,
    });
    expect(echo1.requests.at(-1)!.headers.cookie).toBe("keep=1");
  });

  it("update -> the change is served without an Envoy restart", async () => {
    const file = writeApp(appSpec("shop", { host, prefix: "/api", upstream: echo2.port, jwks }));
    const r = await cli(["apps", "register", "-f", file], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("updated app shop");
    const token = await jwks.sign();
    const before = echo2.requests.length;
    await until(port, "/api/v2", { host, authorization: `Bearer ${token}` }, 200);
    await expect.poll(() => echo2.requests.length, { timeout: budget(10_000) }).toBeGreaterThan(before);
    expect(envoy.proc.pid).toBe(uptime0);
    expect(envoy.proc.exited()).toBe(false);
  });

  it("get shows status and hides the secret; list shows the app", async () => {
    const g = await cli(["apps", "get", "shop", "-o", "json"], env);
    expect(g.code).toBe(0);
    const app = JSON.parse(g.stdout);
    expect(app.spec.oidc.client_secret).toBeUndefined();
    expect(app.spec.oidc.client_secret_status).toMatch(/^set \(sha256:[0-9a-f]{8}\)$/);
    expect(g.stdout).not.toContain("secret-of-shop");
    await expect
      .poll(
        async () => JSON.parse((await cli(["apps", "get", "shop", "-o", "json"], env)).stdout).status?.state,
        { timeout: budget(10_000) },
      )
      .toBe("serving");
    const l = await cli(["apps", "list"], env);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/^shop\s+\d+\s+delta\.test|^shop\s+\d+\s+sotw\.test/m);
  });

  it("delete -> the route is gone", async () => {
    const r = await cli(["apps", "delete", "shop"], env);
    expect(r.code).toBe(0);
    const token = await jwks.sign();
    await until(port, "/api/items", { host, authorization: `Bearer ${token}` }, 404);
    const g = await cli(["apps", "get", "shop"], env);
    expect(g.code).toBe(4);
    expect(g.stderr).toContain("NOT_FOUND");
    expect(envoy.proc.pid).toBe(uptime0);
  });

  it("control plane restarted mid-test: Envoy keeps serving and reconnects", async () => {
    const file = writeApp(appSpec("blog", { host, prefix: "/blog", upstream: echo1.port, jwks }));
    expect((await cli(["apps", "register", "-f", file], env)).code).toBe(0);
    const token = await jwks.sign();
    const auth = { host, authorization: `Bearer ${token}` };
    await until(port, "/blog/1", auth, 200);
    await cp.kill();
    // Control plane down: Envoy still serves its last config.
    for (let i = 0; i < 5; i++) expect((await get(port, "/blog/1", auth)).status).toBe(200);
    await cp.restart();
    // The registry lives in Redis: the restarted control plane still has the app.
    expect((await cli(["apps", "get", "blog"], env)).code).toBe(0);
    // Back up (registry in Redis): a change made now reaches Envoy over the new stream.
    const file2 = writeApp(appSpec("news", { host, prefix: "/news", upstream: echo2.port, jwks }));
    expect((await cli(["apps", "register", "-f", file2], env)).code).toBe(0);
    await until(port, "/news/1", auth, 200, 30_000);
    expect((await get(port, "/blog/1", auth)).status).toBe(200);
    const stats = await envoy.stats();
    expect(stats.get("control_plane.connected_state")).toBe(1);
    expect(envoy.proc.pid).toBe(uptime0);
  });
});
