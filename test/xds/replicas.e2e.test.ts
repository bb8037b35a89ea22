// Two control-plane replicas behind one Redis: a registration on either
// reaches Envoys connected to both. Plus a sidecar node getting its service's
// inbound listener with jwt_authn.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startRedis,
} from "../harness/index.js";
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

async function gateway(cp: ControlPlane, name: string): Promise<{ envoy: EnvoyHandle; port: number }> {
  const port = await freePort();
  const envoy = await startEnvoy({
    file: join(REPO_ROOT, "envoy/gateway-ads.yaml"),
    name,
    vars: {
      NODE_ID: name,
      XDS_HOST: "127.0.0.1",
      XDS_PORT: cp.xdsPort,
      LISTENER_ADDRESS: "127.0.0.1",
      LISTENER_PORT: port,
    },
  });
  return { envoy, port };
}

describe("two replicas behind one Redis", () => {
  let a: ControlPlane;
  let b: ControlPlane;
  let ga: { envoy: EnvoyHandle; port: number };
  let gb: { envoy: EnvoyHandle; port: number };
  let echo: EchoHandle;
  let jwks: Jwks;

  beforeAll(async () => {
    const redis = await startRedis();
    [a, b] = await Promise.all([
      startControlPlane({ name: "xds-a", redisUrl: redis.url }),
      startControlPlane({ name: "xds-b", redisUrl: redis.url }),
    ]);
    [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
    [ga, gb] = await Promise.all([gateway(a, "gw-a"), gateway(b, "gw-b")]);
  });

  it("a registration on either replica is served by Envoys on both", async () => {
    const token = await jwks.sign();
    const auth = (host: string) => ({ host, authorization: `Bearer ${token}` });
    const r1 = await cli(
      ["apps", "register", "-f", writeApp(appSpec("one", { upstream: echo.port, jwks }))],
      { SESSIONGATE_SERVER: a.api, SESSIONGATE_TOKEN: TOKEN },
    );
    expect(r1.code).toBe(0);
    await until(ga.port, "/x", auth("one.test"), 200);
    await until(gb.port, "/x", auth("one.test"), 200);
    const r2 = await cli(
      ["apps", "register", "-f", writeApp(appSpec("two", { upstream: echo.port, jwks }))],
      { SESSIONGATE_SERVER: b.api, SESSIONGATE_TOKEN: TOKEN },
    );
    expect(r2.code).toBe(0);
    await until(ga.port, "/x", auth("two.test"), 200);
    await until(gb.port, "/x", auth("two.test"), 200);
    // Both replicas list the same apps at the same revision.
    const la = await cli(["apps", "list", "-o", "json"], {
      SESSIONGATE_SERVER: a.api,
      SESSIONGATE_TOKEN: TOKEN,
    });
    const lb = await cli(["apps", "list", "-o", "json"], {
      SESSIONGATE_SERVER: b.api,
      SESSIONGATE_TOKEN: TOKEN,
    });
    const strip = (s: string) => {
      const j = JSON.parse(s);
      return {
        revision: j.revision,
        apps: j.apps.map((x: { spec: unknown; revision: string }) => [x.spec, x.revision]),
      };
    };
    expect(strip(la.stdout)).toEqual(strip(lb.stdout));
    // Same registry, same content-hash versions on both replicas' Envoys.
    const versions = async (e: EnvoyHandle) => {
      const dump = (await e.configDump()) as {
        configs: { dynamic_route_configs?: { version_info: string }[] }[];
      };
      return dump.configs.flatMap((c) => c.dynamic_route_configs ?? []).map((c) => c.version_info);
    };
    await expect.poll(async () => (await versions(ga.envoy)).join()).toBe((await versions(gb.envoy)).join());
    // Delete on A: gone on both.
    expect(
      (await cli(["apps", "delete", "one"], { SESSIONGATE_SERVER: a.api, SESSIONGATE_TOKEN: TOKEN })).code,
    ).toBe(0);
    await until(gb.port, "/x", auth("one.test"), 404);
    await until(ga.port, "/x", auth("one.test"), 404);
    // Concurrent updates at the same revision on both replicas: exactly one wins.
    const g = JSON.parse(
      (
        await cli(["apps", "get", "two", "-o", "json"], {
          SESSIONGATE_SERVER: a.api,
          SESSIONGATE_TOKEN: TOKEN,
        })
      ).stdout,
    );
    const f = writeApp(appSpec("two", { upstream: echo.port, jwks, prefix: "/v2" }));
    const results = await Promise.all(
      [a, b].map((cp) =>
        cli(["apps", "register", "-f", f, "--revision", g.revision], {
          SESSIONGATE_SERVER: cp.api,
          SESSIONGATE_TOKEN: TOKEN,
        }),
      ),
    );
    expect(results.map((r) => r.code).sort()).toEqual([0, 5]);
  });
});

describe("sidecar node", () => {
  it("gets its service's inbound listener with jwt_authn in front of the local service, no sessiongate cookie and no underscore header through it", async () => {
    const cp = await startControlPlane({ name: "xds-sidecar" });
    const [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
    const inbound = await freePort();
    const spec = appSpec("orders", {
      upstream: echo.port,
      jwks,
      extra: { sidecar: { service: "orders-svc", inbound_port: inbound } },
    });
    expect(
      (
        await cli(["apps", "register", "-f", writeApp(spec)], {
          SESSIONGATE_SERVER: cp.api,
          SESSIONGATE_TOKEN: TOKEN,
        })
      ).code,
    ).toBe(0);
    const envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy/sidecar-ads.yaml"),
      name: "sidecar",
      vars: {
        NODE_ID: "orders-1",
        SERVICE: "orders-svc",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
      },
    });
    const token = await jwks.sign({ sub: "bob" });
    await until(inbound, "/orders/1", { host: "anything", authorization: `Bearer ${token}` }, 200);
    expect(echo.requests.at(-1)!.headers["x-user"]).toBe("bob");
    expect((await get(inbound, "/orders/1", { host: "anything" })).status).toBe(401);
    // Invariant 6 on the sidecar too: no __Host-sg-* cookie reaches the local service
    // (the wasm filter there has no app, it only drops them), other cookies do.
    await until(
      inbound,
      "/orders/2",
      {
        host: "anything",
        authorization: `Bearer ${token}`,
        cookie: `__Host-sg-orders=${"a".repeat(43)}; __Host-sg-shop-login=x; keep=1`,
      },
      200,
    );
    expect(echo.requests.at(-1)!.headers.cookie).toBe("keep=1");
    // Underscore twins of identity headers are refused before the service sees them.
    const before = echo.requests.length;
    expect(
      (
        await get(inbound, "/orders/3", {
          host: "anything",
          authorization: `Bearer ${token}`,
          x_user: "admin",
        })
      ).status,
    ).toBe(400);
    expect(echo.requests.length).toBe(before);
    const dump = JSON.stringify(await envoy.configDump());
    expect(dump).toContain("sg_sidecar_orders");
    // A sidecar gets the cookie-dropping filter, but no other gateway piece: no BFF clusters.
    expect(dump).toContain("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
    expect(dump).not.toContain('"name":"sessiongate_bff_internal"');
  });
});
