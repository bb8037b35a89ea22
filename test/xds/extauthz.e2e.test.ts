// ext_authz per app with a real Envoy and real gRPC authorization services,
// over Delta and SotW ADS: asked only on its app's routes, told the app in
// context_extensions, fail mode honoured; and an app with ext_authz added or
// removed leaves the gateway listener as it is (the service is chosen per
// route, xds-server/translate/extauthz.ts), with no request let through
// unchecked while it changes.
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Authorization,
  type CheckRequest,
  type CheckResponse,
  CheckResponseSchema,
} from "../../protos/gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../../xds-server/resource/grpc.js";
import { type EnvoyHandle, freePort, onCleanup, REPO_ROOT, startEcho, startEnvoy } from "../harness/index.js";
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

interface Pdp {
  server: grpc.Server;
  port: number;
  /** Every check it answered: the app named in context_extensions and the path. */
  seen: { app: string; path: string }[];
}

/** A PDP that allows a request carrying `x-allow: yes` and denies (403, "denied by pdp") any other. */
async function startPdp(): Promise<Pdp> {
  const port = await freePort();
  const seen: Pdp["seen"] = [];
  const server = new grpc.Server();
  server.addService(serviceDefinition(Authorization), {
    check: (
      call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>,
      cb: grpc.sendUnaryData<CheckResponse>,
    ) => {
      const http = call.request.attributes?.request?.http;
      seen.push({ app: call.request.attributes?.contextExtensions.app ?? "", path: http?.path ?? "" });
      const allow = http?.headers["x-allow"] === "yes";
      cb(
        null,
        create(
          CheckResponseSchema,
          allow
            ? { status: { code: 0 } }
            : {
                status: { code: 7 },
                httpResponse: {
                  case: "deniedResponse",
                  value: { status: { code: 403 }, body: "denied by pdp" },
                },
              },
        ),
      );
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  onCleanup(async () => server.forceShutdown());
  return { server, port, seen };
}

describe.each([
  ["delta", "gateway-ads.yaml"],
  ["sotw", "gateway-ads-sotw.yaml"],
])("ext_authz per app over %s ADS", (mode, bootstrap) => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let port: number;
  let pdp: Pdp;
  let jwks: Jwks;
  let echoPort: number;
  let auth: Record<string, string>;
  let env: Record<string, string>;

  beforeAll(async () => {
    cp = await startControlPlane({ name: `xds-extauthz-${mode}` });
    const [echo, j] = await Promise.all([startEcho({ name: `echo-extauthz-${mode}` }), startJwks()]);
    jwks = j;
    echoPort = echo.port;
    pdp = await startPdp();
    env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
    const guarded = appSpec("guarded", {
      host: "pdp.test",
      prefix: "/g",
      upstream: echo.port,
      jwks,
      extra: { ext_authz: { target: `127.0.0.1:${pdp.port}`, timeout_ms: 500 } },
    });
    const open = appSpec("lenient", {
      host: "pdp.test",
      prefix: "/l",
      upstream: echo.port,
      jwks,
      extra: { ext_authz: { target: `127.0.0.1:${pdp.port}`, fail_mode: "open" } },
    });
    const plain = appSpec("plain", { host: "pdp.test", prefix: "/p", upstream: echo.port, jwks });
    for (const s of [guarded, open, plain])
      expect((await cli(["apps", "register", "-f", writeApp(s)], env)).code).toBe(0);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", bootstrap),
      name: `gw-extauthz-${mode}`,
      vars: {
        NODE_ID: `gw-extauthz-${mode}`,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    auth = { host: "pdp.test", authorization: `Bearer ${await jwks.sign()}` };
    await until(port, "/p/1", auth, 200);
  });

  afterAll(async () => {
    await envoy?.stop();
    await cp?.stop();
  });

  it("asks the app's PDP on its routes only, with the app id as context", async () => {
    await until(port, "/g/1", { ...auth, "x-allow": "yes" }, 200);
    const denied = await get(port, "/g/1", auth);
    expect(denied.status).toBe(403);
    expect(denied.body).toBe("denied by pdp");
    expect(pdp.seen.at(-1)).toEqual({ app: "guarded", path: "/g/1" });
    const n = pdp.seen.length;
    expect((await get(port, "/p/1", auth)).status).toBe(200);
    expect(pdp.seen.length).toBe(n); // no ext_authz on the app without a target
    expect((await get(port, "/g/auth/guarded/login", auth)).status).not.toBe(403);
    expect(pdp.seen.length).toBe(n); // nor on its BFF route
    // JWT first: no token -> 401 before the PDP is asked.
    expect((await get(port, "/g/1", { host: "pdp.test", "x-allow": "yes" })).status).toBe(401);
    expect(pdp.seen.length).toBe(n);
  });

  it("an app with ext_authz added and removed: the listener is untouched, its PDP asked for it only, nothing let through unchecked", async () => {
    const listenerVersion = async () => {
      const dump = (await envoy.configDump()) as {
        configs: { "@type": string; dynamic_listeners?: { active_state?: { version_info?: string } }[] }[];
      };
      const l = dump.configs.find((c) => c["@type"].endsWith("ListenersConfigDump"));
      return l?.dynamic_listeners?.[0]?.active_state?.version_info;
    };
    const stat = async (name: string) => (await envoy.stats()).get(name) ?? 0;
    const version = await listenerVersion();
    expect(version).toBeTruthy();
    const modified = await stat("listener_manager.listener_modified");
    const own = await startPdp();
    // Steady load meanwhile: guarded without x-allow is always denied, plain always served,
    // and neither ever reaches the new app's PDP.
    const bad: string[] = [];
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const [g, p] = await Promise.all([get(port, "/g/x", auth), get(port, "/p/x", auth)]);
        if (g.status !== 403) bad.push(`guarded ${g.status}`);
        if (p.status !== 200) bad.push(`plain ${p.status}`);
      }
    })();
    // The new app shares the host; until its route is there a request is a 404, after that
    // always asked: never a 200 without `x-allow: yes`.
    const late = appSpec("late", {
      host: "pdp.test",
      prefix: "/n",
      upstream: echoPort,
      jwks,
      extra: { ext_authz: { target: `127.0.0.1:${own.port}`, timeout_ms: 500 } },
    });
    const watchLate = async (until: (s: number) => boolean) => {
      await expect
        .poll(
          async () => {
            const s = (await get(port, "/n/1", auth)).status;
            if (s !== 404 && s !== 403) bad.push(`late ${s}`);
            return until(s);
          },
          { timeout: budget(20_000), interval: 20 },
        )
        .toBe(true);
    };
    try {
      expect((await cli(["apps", "register", "-f", writeApp(late)], env)).code).toBe(0);
      await watchLate((s) => s === 403);
      await until(port, "/n/2", { ...auth, "x-allow": "yes" }, 200);
      expect(own.seen.length).toBeGreaterThan(0);
      expect(own.seen.every((c) => c.app === "late" && c.path.startsWith("/n/"))).toBe(true);
      expect((await cli(["apps", "delete", "late"], env)).code).toBe(0);
      await watchLate((s) => s === 404);
    } finally {
      stop = true;
      await load;
    }
    expect(bad).toEqual([]);
    expect(pdp.seen.some((c) => c.app === "late")).toBe(false);
    expect(own.seen.every((c) => c.app === "late")).toBe(true);
    expect(await listenerVersion()).toBe(version);
    expect(await stat("listener_manager.listener_modified")).toBe(modified);
  });

  it("PDP down: fail closed denies, fail open allows", async () => {
    pdp.server.forceShutdown();
    await expect
      .poll(async () => (await get(port, "/g/2", { ...auth, "x-allow": "yes" })).status, {
        timeout: budget(10_000),
      })
      .toBe(403);
    expect((await get(port, "/l/2", { ...auth, "x-allow": "yes" })).status).toBe(200);
    expect((await get(port, "/p/2", auth)).status).toBe(200);
  });
});
