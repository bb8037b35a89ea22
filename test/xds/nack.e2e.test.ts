// A real Envoy NACK: a sidecar app whose inbound port is taken cannot bind,
// Envoy rejects the listener update. The node keeps serving its last good
// config, the NACK shows in GetApp and the metric, the refused version is
// not re-sent, and a fixed registration is served.
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, onCleanup, REPO_ROOT, startEcho, startEnvoy } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { appSpec, cli, startControlPlane, startJwks, TOKEN, until, writeApp } from "./helpers.js";

async function metric(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name))
    .reduce((s, l) => s + Number(l.split(" ").at(-1)), 0);
}

describe("NACK from a real Envoy", () => {
  it("is recorded, not re-sent, and the node keeps its last good config", async () => {
    const cp = await startControlPlane({ name: "xds-nack" });
    const env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
    const [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
    const good = await freePort();
    const sidecar = (id: string, port: number) =>
      appSpec(id, {
        upstream: echo.port,
        jwks,
        extra: { sidecar: { service: "inv-svc", inbound_port: port } },
      });
    expect((await cli(["apps", "register", "-f", writeApp(sidecar("inv", good))], env)).code).toBe(0);
    await startEnvoy({
      file: join(REPO_ROOT, "envoy/sidecar-ads.yaml"),
      name: "sidecar-nack",
      vars: {
        NODE_ID: "inv-1",
        SERVICE: "inv-svc",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
      },
    });
    const auth = { host: "x", authorization: `Bearer ${await jwks.sign()}` };
    await until(good, "/a", auth, 200);

    // Occupy a port, then register a second app of the service on it.
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    onCleanup(() => new Promise<void>((r) => blocker.close(() => r())));
    const taken = (blocker.address() as { port: number }).port;
    const nacks0 = await metric(cp.httpPort, "sessiongate_xds_nacks_total");
    expect((await cli(["apps", "register", "-f", writeApp(sidecar("inv2", taken))], env)).code).toBe(0);
    await expect
      .poll(() => metric(cp.httpPort, "sessiongate_xds_nacks_total"), { timeout: budget(10_000) })
      .toBeGreaterThan(nacks0);
    const st = JSON.parse((await cli(["apps", "get", "inv2", "-o", "json"], env)).stdout).status;
    expect(st.state).toBe("rejected");
    expect(st.nacks[0].node_id).toBe("inv-1");
    expect(st.nacks[0].message.length).toBeGreaterThan(0);
    // The app that was fine is not blamed.
    expect(JSON.parse((await cli(["apps", "get", "inv", "-o", "json"], env)).stdout).status.state).not.toBe(
      "rejected",
    );
    // Last good config still served.
    await until(good, "/a", auth, 200);
    // The refused version is not pushed again.
    const pushes = await metric(cp.httpPort, "sessiongate_xds_pushes_total");
    const nacks1 = await metric(cp.httpPort, "sessiongate_xds_nacks_total");
    await new Promise((r) => setTimeout(r, 1500));
    expect(await metric(cp.httpPort, "sessiongate_xds_pushes_total")).toBe(pushes);
    expect(await metric(cp.httpPort, "sessiongate_xds_nacks_total")).toBe(nacks1);
    // Fix it: the next version is pushed, accepted and served.
    const free = await freePort();
    expect((await cli(["apps", "register", "-f", writeApp(sidecar("inv2", free))], env)).code).toBe(0);
    await until(free, "/a", auth, 200);
    await expect
      .poll(
        async () => JSON.parse((await cli(["apps", "get", "inv2", "-o", "json"], env)).stdout).status.state,
        { timeout: budget(10_000) },
      )
      .toBe("serving");
  });
});
