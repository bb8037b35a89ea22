// ext_authz per app with a real Envoy and a real gRPC authorization service:
// enabled only on its app's routes, context tells it the app, fail mode honoured.
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  Authorization,
  type CheckRequest,
  type CheckResponse,
  CheckResponseSchema,
} from "../../protos/gen/envoy/service/auth/v3/external_auth_pb.js";
import { serviceDefinition } from "../../xds-server/resource/grpc.js";
import { freePort, onCleanup, REPO_ROOT, startEcho, startEnvoy } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { appSpec, cli, get, startControlPlane, startJwks, TOKEN, until, writeApp } from "./helpers.js";

const seen: { app: string; path: string }[] = [];

async function startPdp(port: number): Promise<grpc.Server> {
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
  return server;
}

describe("ext_authz per app", () => {
  let port: number;
  let pdp: grpc.Server;
  let auth: Record<string, string>;
  beforeAll(async () => {
    const cp = await startControlPlane({ name: "xds-extauthz" });
    const [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
    const pdpPort = await freePort();
    pdp = await startPdp(pdpPort);
    const env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
    const guarded = appSpec("guarded", {
      host: "pdp.test",
      prefix: "/g",
      upstream: echo.port,
      jwks,
      extra: { ext_authz: { target: `127.0.0.1:${pdpPort}`, timeout_ms: 500 } },
    });
    const open = appSpec("lenient", {
      host: "pdp.test",
      prefix: "/l",
      upstream: echo.port,
      jwks,
      extra: { ext_authz: { target: `127.0.0.1:${pdpPort}`, fail_mode: "open" } },
    });
    const plain = appSpec("plain", { host: "pdp.test", prefix: "/p", upstream: echo.port, jwks });
    for (const s of [guarded, open, plain])
      expect((await cli(["apps", "register", "-f", writeApp(s)], env)).code).toBe(0);
    port = await freePort();
    await startEnvoy({
      file: join(REPO_ROOT, "envoy/gateway-ads.yaml"),
      name: "gw-extauthz",
      vars: {
        NODE_ID: "gw-extauthz",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    auth = { host: "pdp.test", authorization: `Bearer ${await jwks.sign()}` };
    await until(port, "/p/1", auth, 200);
  });

  it("asks the app's PDP on its routes only, with the app id as context", async () => {
    await until(port, "/g/1", { ...auth, "x-allow": "yes" }, 200);
    const denied = await get(port, "/g/1", auth);
    expect(denied.status).toBe(403);
    expect(denied.body).toBe("denied by pdp");
    expect(seen.at(-1)).toEqual({ app: "guarded", path: "/g/1" });
    const n = seen.length;
    expect((await get(port, "/p/1", auth)).status).toBe(200);
    expect(seen.length).toBe(n); // no ext_authz on the app without a target
    // JWT first: no token -> 401 before the PDP is asked.
    expect((await get(port, "/g/1", { host: "pdp.test", "x-allow": "yes" })).status).toBe(401);
    expect(seen.length).toBe(n);
  });

  it("PDP down: fail closed denies, fail open allows", async () => {
    pdp.forceShutdown();
    await expect
      .poll(async () => (await get(port, "/g/2", { ...auth, "x-allow": "yes" })).status, {
        timeout: budget(10_000),
      })
      .toBe(403);
    expect((await get(port, "/l/2", { ...auth, "x-allow": "yes" })).status).toBe(200);
    expect((await get(port, "/p/2", auth)).status).toBe(200);
  });
});
