// The gateway listener stays put when apps change: its filters' configs come
// by ECDS and its routes by RDS, so registering another app must not modify
// (drain and rebuild) the listener in a real Envoy, and an app of a known
// issuer/JWKS/audience must not even reload jwt_authn. Delta and SotW.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
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

describe.each([
  ["delta", "gateway-ads.yaml"],
  ["sotw", "gateway-ads-sotw.yaml"],
])("ECDS over %s ADS", (mode, bootstrap) => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo: EchoHandle;
  let jwks: Jwks;
  let port: number;
  let env: Record<string, string>;

  beforeAll(async () => {
    cp = await startControlPlane({ name: `xds-ecds-${mode}` });
    env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
    [echo, jwks] = await Promise.all([startEcho({ name: `echo-ecds-${mode}` }), startJwks()]);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", bootstrap),
      name: `gw-ecds-${mode}`,
      vars: {
        NODE_ID: `gw-ecds-${mode}`,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
  });

  afterAll(async () => {
    await envoy?.stop();
    await cp?.stop();
  });

  const register = async (id: string) => {
    const r = await cli(
      ["apps", "register", "-f", writeApp(appSpec(id, { upstream: echo.port, jwks }))],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
  };
  const stat = async (name: string) => (await envoy.stats()).get(name) ?? 0;

  it("another app is served without modifying the listener or reloading jwt_authn", async () => {
    const token = await jwks.sign();
    await register("first");
    await until(port, "/x", { host: "first.test", authorization: `Bearer ${token}` }, 200);
    const modified = await stat("listener_manager.listener_modified");
    const jwtReloads = await stat(
      "extension_config_discovery.http_filter.envoy.filters.http.jwt_authn.config_reload",
    );
    const rds = await stat("http.sessiongate.rds.sessiongate_gateway.update_success");
    const vhds = await stat("http.sessiongate.rds.vhds.sessiongate_gateway.update_success");
    expect(jwtReloads).toBeGreaterThan(0);

    await register("second");
    await until(port, "/x", { host: "second.test", authorization: `Bearer ${token}` }, 200);
    expect(echo.requests.at(-1)!.headers["x-sessiongate-app"]).toBe("second");
    // jwt_authn still enforces on the new app's routes (its requirement came by RDS).
    expect((await get(port, "/x", { host: "second.test" })).status).toBe(401);
    if (mode === "delta") {
      // Delta: the RouteConfiguration only names VHDS; the new app came as its own virtual host.
      expect(await stat("http.sessiongate.rds.sessiongate_gateway.update_success")).toBe(rds);
      expect(await stat("http.sessiongate.rds.vhds.sessiongate_gateway.update_success")).toBeGreaterThan(
        vhds,
      );
      // Never waited out the initial fetch (the anchor virtual host answers it).
      expect(await stat("http.sessiongate.rds.vhds.sessiongate_gateway.init_fetch_timeout")).toBe(0);
    } else expect(await stat("http.sessiongate.rds.sessiongate_gateway.update_success")).toBeGreaterThan(rds);
    expect(await stat("listener_manager.listener_modified")).toBe(modified);
    expect(
      await stat("extension_config_discovery.http_filter.envoy.filters.http.jwt_authn.config_reload"),
    ).toBe(jwtReloads);
  });

  it("the filter configs are in Envoy's ECDS config dump, not inline in the listener", async () => {
    const dump = (await envoy.configDump()) as { configs: { "@type": string }[] };
    const ecds = dump.configs.find((c) => c["@type"].endsWith("EcdsConfigDump"));
    const names = JSON.stringify(ecds);
    expect(names).toContain("envoy.filters.http.jwt_authn");
    expect(names).toContain("envoy.filters.http.wasm");
    expect(names).toContain("sessiongate.strip_identity_headers");
    const listeners = JSON.stringify(dump.configs.find((c) => c["@type"].endsWith("ListenersConfigDump")));
    expect(listeners).toContain("config_discovery");
    expect(listeners).not.toContain("remote_jwks");
  });
});
