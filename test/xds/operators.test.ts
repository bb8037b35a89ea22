// Operator endpoints: grpc.health.v1 on the ADS and API ports, gRPC server
// reflection on the registration API, /healthz (alive) distinct from /readyz
// (every port bound and the registry loaded).
import { createRequire } from "node:module";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { freePort, onCleanup, REPO_ROOT, startProcess } from "../harness/index.js";
import { inProcessServerConfig, TOKEN } from "./helpers.js";

let srv: RunningServer;
beforeAll(async () => {
  srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
});
afterAll(async () => {
  await srv?.stop();
});

const HealthClient = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");

function check(port: number, service: string): Promise<string> {
  const c = new HealthClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    // biome-ignore lint/suspicious/noExplicitAny: generic client method.
    (c as any).check({ service }, (err: grpc.ServiceError | null, res: { status: string }) => {
      c.close();
      if (err) reject(err);
      else resolve(res.status);
    });
  });
}

describe("operators", () => {
  it("grpc.health.v1 reports SERVING on the ADS and API ports, per service too", async () => {
    expect(await check(srv.xdsPort, "")).toBe("SERVING");
    expect(await check(srv.xdsPort, "envoy.service.discovery.v3.AggregatedDiscoveryService")).toBe("SERVING");
    expect(await check(srv.apiPort, "")).toBe("SERVING");
    expect(await check(srv.apiPort, "sessiongate.v1.AppRegistry")).toBe("SERVING");
    expect(await check(srv.apiPort, "sessiongate.v1.BffDirectory")).toBe("SERVING");
    await expect(check(srv.apiPort, "no.such.Service")).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it("gRPC reflection on the registration API lists and describes sessiongate.v1", async () => {
    const reflectionDir = dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json"));
    const def = protoLoader.loadSync(join(reflectionDir, "build/proto/grpc/reflection/v1/reflection.proto"), {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    // biome-ignore lint/suspicious/noExplicitAny: loaded package object.
    const pkg = grpc.loadPackageDefinition(def) as any;
    const client = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${srv.apiPort}`,
      grpc.credentials.createInsecure(),
    );
    const ask = (req: object) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const call = client.ServerReflectionInfo();
        call.on("data", (r: Record<string, unknown>) => {
          call.end();
          resolve(r);
        });
        call.on("error", reject);
        call.write(req);
      });
    const list = (await ask({ list_services: "" })) as {
      list_services_response: { service: { name: string }[] };
    };
    expect(list.list_services_response.service.map((s) => s.name).sort()).toEqual([
      "sessiongate.v1.AppRegistry",
      "sessiongate.v1.BffDirectory",
    ]);
    const file = (await ask({ file_containing_symbol: "sessiongate.v1.AppRegistry" })) as {
      file_descriptor_response: { file_descriptor_proto: Buffer[] };
    };
    const names = file.file_descriptor_response.file_descriptor_proto.map((b) => b.toString("latin1"));
    expect(names.some((n) => n.includes("sessiongate/v1/apps.proto") && n.includes("CreateApp"))).toBe(true);
    client.close();
  });

  it("/healthz says alive, /readyz says ready", async () => {
    const base = `http://127.0.0.1:${srv.httpPort}`;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true });
    const healthz = await fetch(`${base}/healthz`);
    expect(healthz.status).toBe(200);
    expect(await healthz.json()).toEqual({ ok: true, ready: true });
  });

  it("/readyz stays 503 while the registry is not loaded, though /healthz says alive", async () => {
    // A Redis that accepts connections and never answers (a hung or stopped
    // server): the registry cannot load, so the server must not claim readiness.
    const held: Socket[] = [];
    const blackHole = createNetServer((s) => held.push(s));
    await new Promise<void>((r) => blackHole.listen(0, "127.0.0.1", r));
    onCleanup(() => {
      for (const s of held) s.destroy();
      return new Promise<void>((r) => blackHole.close(() => r()));
    });
    const httpPort = await freePort();
    const p = await startProcess({
      name: "xds-not-ready",
      cmd: process.execPath,
      args: [
        "--import",
        "tsx",
        join(REPO_ROOT, "xds-server/main.ts"),
        "--xds-insecure",
        "--xds-port=0",
        "--api-port=0",
        `--http-port=${httpPort}`,
        `--api-token=${TOKEN}`,
        `--redis-url=redis://127.0.0.1:${(blackHole.address() as AddressInfo).port}`,
      ],
      cwd: REPO_ROOT,
      ready: { url: `http://127.0.0.1:${httpPort}/healthz` },
      readyTimeoutMs: 30_000,
    });
    const readyz = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.json()).toEqual({ ok: false, starting: true });
    expect(await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()).toEqual({
      ok: true,
      ready: false,
    });
    await p.kill();
  });
});
