// Invariant: a change to one app leaves every other app's traffic untouched.
// Through a real Envoy over Delta (VHDS: the churned app's virtual host is
// re-sent, shared with a neighbour) and SotW (the whole RouteConfiguration is
// re-sent), 200 changes of one app (100 creates, 100 deletes) run while
// steady load hits two other apps: one on the churned app's own host, one on
// another host. No request to them may be refused, and none may be served
// without jwt_authn (no token -> 401) or with a client-forged identity header.

import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppSpecSchema } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { connect } from "../../xds-server/cli/client.js";
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
  get,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  until,
} from "./helpers.js";

const CHANGES = 200;
const WORKERS = 4;

describe.each([
  ["delta", "gateway-ads.yaml"],
  ["sotw", "gateway-ads-sotw.yaml"],
])("one app changing 200 times over %s ADS", (mode, bootstrap) => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo: EchoHandle;
  let jwks: Jwks;
  let port: number;
  let api: ReturnType<typeof connect>;
  const spec = (id: string, host: string, prefix: string) =>
    fromJson(AppSpecSchema, appSpec(id, { host, prefix, upstream: echo.port, jwks }) as never);

  beforeAll(async () => {
    cp = await startControlPlane({ name: `xds-churn-${mode}` });
    [echo, jwks] = await Promise.all([startEcho({ name: `echo-churn-${mode}` }), startJwks()]);
    api = connect(cp.api, TOKEN);
    for (const [id, host, prefix] of [
      ["neighbour", "shared.test", "/n"],
      ["other", "other.test", "/"],
    ])
      await api.unary("createApp", { app: spec(id, host, prefix) }, 10_000);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", bootstrap),
      name: `gw-churn-${mode}`,
      vars: {
        NODE_ID: `gw-churn-${mode}`,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    const token = await jwks.sign();
    await until(port, "/n/x", { host: "shared.test", authorization: `Bearer ${token}` }, 200, 60_000);
    await until(port, "/x", { host: "other.test", authorization: `Bearer ${token}` }, 200, 60_000);
  });

  afterAll(async () => {
    api?.close();
    await envoy?.stop();
    await cp?.stop();
  });

  it("no request to another app is refused or served without its checks", async () => {
    const token = await jwks.sign();
    const violations: string[] = [];
    const counts = { ok: 0, denied: 0 };
    let stop = false;
    const targets = [
      { host: "shared.test", path: "/n/load" },
      { host: "other.test", path: "/load" },
    ];
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const t = targets[(i + w) % targets.length];
        // With a token and a forged identity header: served, the forged value stripped.
        const ok = await get(port, t.path, {
          host: t.host,
          authorization: `Bearer ${token}`,
          "x-email": "forged@evil.test",
        }).catch((e: Error) => ({ status: -1, body: e.message }));
        if (ok.status === 200) counts.ok++;
        else violations.push(`${t.host}${t.path} with token -> ${ok.status}`);
        // Without a token: jwt_authn must refuse it, whatever the control plane is doing.
        const no = await get(port, t.path, { host: t.host, "x-user": "mallory" }).catch((e: Error) => ({
          status: -1,
          body: e.message,
        }));
        if (no.status === 401) counts.denied++;
        else violations.push(`${t.host}${t.path} without token -> ${no.status}`);
      }
    };
    const seenBefore = echo.requests.length;
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    // The churned app shares the neighbour's host: each change rewrites that virtual host.
    // Each change is awaited until Envoy serves it, so Envoy applies 200 updates (not a coalesced few).
    const churn = { host: "shared.test", authorization: `Bearer ${token}` };
    const routeUpdates = async () => {
      const st = await envoy.stats();
      return mode === "delta"
        ? (st.get("http.sessiongate.rds.vhds.sessiongate_gateway.update_success") ?? 0)
        : (st.get("http.sessiongate.rds.sessiongate_gateway.update_success") ?? 0);
    };
    const updatesBefore = await routeUpdates();
    for (let c = 0; c < CHANGES; c += 2) {
      await api.unary("createApp", { app: spec("churn", "shared.test", "/churn") }, 10_000);
      await until(port, "/churn/x", churn, 200, 60_000);
      await api.unary("deleteApp", { id: "churn" }, 10_000);
      await until(port, "/churn/x", churn, 404, 60_000);
    }
    stop = true;
    await load;
    expect(await routeUpdates()).toBeGreaterThanOrEqual(updatesBefore + CHANGES);

    console.log(`churn ${mode}: ${counts.ok} served, ${counts.denied} refused without a token`);
    expect(violations.slice(0, 10)).toEqual([]);
    expect(counts.ok).toBeGreaterThan(CHANGES);
    expect(counts.denied).toBeGreaterThan(CHANGES);
    const upstreamSaw = echo.requests.slice(seenBefore).filter((r) => r.path.endsWith("/load"));
    expect(upstreamSaw.length).toBe(counts.ok);
    for (const r of upstreamSaw) {
      expect(r.headers["x-user"]).toBe("alice"); // set by jwt_authn from the validated token
      expect(r.headers["x-email"]).toBeUndefined(); // the forged one stripped (no email claim)
    }
  });
});
