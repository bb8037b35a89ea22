// ADS protocol against the real server with a scripted client: ordering,
// ACK/NACK, no re-send of a NACKed version, delta pushes only changes, and
// removed clusters held until listeners/routes moved on.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { AdsClient } from "../../xds-server/ads/service.js";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { TYPE_URLS as T } from "../../xds-server/resource/types.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "./helpers.js";

let srv: RunningServer;
let api: Client;

beforeAll(async () => {
  srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
  api = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
});

afterAll(async () => {
  api?.close();
  await srv?.stop();
});

/** A scripted Envoy: queue of responses, bounded waits. */
class Fake<Res extends { typeUrl: string; nonce: string }> {
  readonly got: Res[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly stream: grpc.ClientDuplexStream<unknown, Res>) {
    stream.on("data", (r: Res) => {
      this.got.push(r);
      for (const w of this.waiters.splice(0)) w();
    });
    stream.on("error", () => {});
  }
  async next(typeUrl?: string, ms = 3000): Promise<Res> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((r) => !typeUrl || r.typeUrl === typeUrl);
      if (i >= 0) return this.got.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${typeUrl ?? "response"} within ${ms} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  async none(ms = 400): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    expect(this.got.map((r) => r.typeUrl)).toEqual([]);
  }
  end() {
    this.stream.cancel();
  }
}

const node = (id: string) => ({
  id,
  cluster: "sessiongate-gateway",
  metadata: { role: "gateway", listener_port: 10001 },
});
const names = (r: DiscoveryResponse) => r.resources.map((a) => a.typeUrl && a.value.length).length;
const unpackNames = (r: DeltaDiscoveryResponse) => r.resources.map((x) => x.name).sort();

async function createApp(id: string, extra: Record<string, unknown> = {}) {
  return api.unary<unknown, { revision: bigint }>("createApp", { app: { ...baseSpec(id), ...extra } }, 5000);
}

describe("SotW", () => {
  it("orders CDS, EDS, LDS, RDS; a NACK is recorded and not re-sent; removed clusters go last", async () => {
    const c = new AdsClient(`127.0.0.1:${srv.xdsPort}`, grpc.credentials.createInsecure());
    const f = new Fake<DiscoveryResponse>(c.streamAggregatedResources());
    const send = (o: object) => f.stream.write(create(DiscoveryRequestSchema, o));
    send({ node: node("sotw-1"), typeUrl: T.cluster });
    const cds0 = await f.next(T.cluster);
    expect(cds0.resources.length).toBe(3); // BFF public + internal, ext_authz's default (no wasm file here)
    send({ typeUrl: T.cluster, versionInfo: cds0.versionInfo, responseNonce: cds0.nonce });
    send({ typeUrl: T.listener });
    const lds0 = await f.next(T.listener);
    send({ typeUrl: T.listener, versionInfo: lds0.versionInfo, responseNonce: lds0.nonce });
    send({ typeUrl: T.route, resourceNames: ["sessiongate_gateway"] });
    const rds0 = await f.next(T.route);
    send({
      typeUrl: T.route,
      versionInfo: rds0.versionInfo,
      responseNonce: rds0.nonce,
      resourceNames: ["sessiongate_gateway"],
    });
    send({ typeUrl: T.endpoint, resourceNames: ["sg_app_s1"] });
    const eds0 = await f.next(T.endpoint);
    expect(eds0.resources.length).toBe(0);
    send({
      typeUrl: T.endpoint,
      versionInfo: eds0.versionInfo,
      responseNonce: eds0.nonce,
      resourceNames: ["sg_app_s1"],
    });
    await f.none(200);

    // Registration: pushed in make-before-break order. The app brings an ext_authz
    // target, which no longer changes the gateway listener (its service is chosen
    // on its route), so clusters, endpoints and routes move, the listener does not.
    await createApp("s1", { extAuthz: { target: "127.0.0.1:9191" } });
    const order: string[] = [];
    const got = new Map<string, DiscoveryResponse>();
    for (let i = 0; i < 3; i++) {
      const r = await f.next();
      order.push(r.typeUrl);
      got.set(r.typeUrl, r);
    }
    expect(order).toEqual([T.cluster, T.endpoint, T.route]);
    expect(got.get(T.cluster)!.resources.length).toBe(6); // + sg_app_s1, its JWKS host, its ext_authz target
    for (const [t, r] of got) {
      const extra = t === T.endpoint ? { resourceNames: ["sg_app_s1"] } : {};
      if (t !== T.route) send({ typeUrl: t, versionInfo: r.versionInfo, responseNonce: r.nonce, ...extra });
    }
    await f.none(200);
    // NACK the route configuration: recorded, and the same version is not sent again.
    const rds1 = got.get(T.route)!;
    const nacks0 = await metric("sessiongate_xds_nacks_total");
    send({
      typeUrl: T.route,
      versionInfo: rds0.versionInfo,
      responseNonce: rds1.nonce,
      resourceNames: ["sessiongate_gateway"],
      errorDetail: { code: 3, message: "bad routes (test)" },
    });
    await f.none(500);
    expect(await metric("sessiongate_xds_nacks_total")).toBe(nacks0 + 1);
    const st = await api.unary<unknown, { status: { state: string; nacks: { message: string }[] } }>(
      "getApp",
      { id: "s1" },
      5000,
    );
    expect(st.status.state).toBe("rejected");
    expect(st.status.nacks[0].message).toContain("bad routes (test)");
    // A stale nonce is ignored (no answer, no state change).
    send({
      typeUrl: T.route,
      versionInfo: rds0.versionInfo,
      responseNonce: "stale-nonce",
      resourceNames: ["sessiongate_gateway"],
    });
    await f.none(200);

    // Delete: routes move first, the cluster is removed last.
    await api.unary("deleteApp", { id: "s1" }, 5000);
    const cds2 = await f.next(T.cluster);
    expect(cds2.resources.length).toBe(6); // still holds sg_app_s1
    send({ typeUrl: T.cluster, versionInfo: cds2.versionInfo, responseNonce: cds2.nonce });
    const eds2 = await f.next(T.endpoint);
    expect(eds2.resources.length).toBe(0);
    send({
      typeUrl: T.endpoint,
      versionInfo: eds2.versionInfo,
      responseNonce: eds2.nonce,
      resourceNames: ["sg_app_s1"],
    });
    const rds2 = await f.next(T.route);
    await f.none(200); // the route update is not ACKed yet: no removal
    send({
      typeUrl: T.route,
      versionInfo: rds2.versionInfo,
      responseNonce: rds2.nonce,
      resourceNames: ["sessiongate_gateway"],
    });
    const cds3 = await f.next(T.cluster);
    expect(cds3.resources.length).toBe(3);
    expect(cds3.versionInfo).toBe(cds0.versionInfo); // content-hash versions: same config, same version
    f.end();
    c.close();
  });
});

describe("Delta", () => {
  it("pushes only what changed, removes last, never re-sends a NACKed resource", async () => {
    const c = new AdsClient(`127.0.0.1:${srv.xdsPort}`, grpc.credentials.createInsecure());
    const f = new Fake<DeltaDiscoveryResponse>(c.deltaAggregatedResources());
    const send = (o: object) => f.stream.write(create(DeltaDiscoveryRequestSchema, o));
    send({ node: node("delta-1"), typeUrl: T.cluster });
    const cds0 = await f.next(T.cluster);
    expect(unpackNames(cds0)).toEqual([
      "sessiongate_bff_internal",
      "sessiongate_bff_public",
      "sessiongate_ext_authz_none",
    ]);
    send({ typeUrl: T.cluster, responseNonce: cds0.nonce });
    send({ typeUrl: T.listener });
    const lds0 = await f.next(T.listener);
    send({ typeUrl: T.listener, responseNonce: lds0.nonce });
    send({ typeUrl: T.route, resourceNamesSubscribe: ["sessiongate_gateway"] });
    const rds0 = await f.next(T.route);
    // Delta nodes get a RouteConfiguration that only names VHDS.
    expect(unpackNames(rds0)).toEqual(["sessiongate_gateway"]);
    send({ typeUrl: T.route, responseNonce: rds0.nonce });
    send({ typeUrl: T.vhds });
    const vhds0 = await f.next(T.vhds);
    expect(unpackNames(vhds0)).toEqual(["sessiongate_gateway/sessiongate.invalid"]); // the anchor
    send({ typeUrl: T.vhds, responseNonce: vhds0.nonce });
    await f.none(200);

    await createApp("d1");
    const cds1 = await f.next(T.cluster);
    // Only the new clusters, not the unchanged BFF ones.
    expect(unpackNames(cds1)).toEqual(["sg_app_d1", "sg_jwks_op.test_443"]);
    expect(cds1.removedResources).toEqual([]);
    send({ typeUrl: T.cluster, responseNonce: cds1.nonce });
    send({ typeUrl: T.endpoint, resourceNamesSubscribe: ["sg_app_d1"] });
    const eds1 = await f.next(T.endpoint);
    expect(unpackNames(eds1)).toEqual(["sg_app_d1"]);
    send({ typeUrl: T.endpoint, responseNonce: eds1.nonce });
    // jwt_authn and the header strip are in the chain from the start: the first
    // app does not change the listener (a listener change is not atomic with the
    // routes Envoy shares between the old and the new listener).
    const vh1 = await f.next(T.vhds);
    expect(unpackNames(vh1)).toEqual(["sessiongate_gateway/d1.test"]);
    expect(f.got.filter((r) => r.typeUrl === T.listener || r.typeUrl === T.route)).toEqual([]);
    // NACK the virtual host: it is not re-sent while it is unchanged.
    send({
      typeUrl: T.vhds,
      responseNonce: vh1.nonce,
      errorDetail: { code: 3, message: "nope (test)" },
    });
    await f.none(500);
    // A change to another app sends that app's virtual host only; the listener
    // (filters by ECDS) and the route configuration (a VHDS skeleton) are not re-sent.
    await createApp("d2");
    const cds2 = await f.next(T.cluster);
    expect(unpackNames(cds2)).toEqual(["sg_app_d2"]); // the shared JWKS cluster is unchanged
    send({ typeUrl: T.cluster, responseNonce: cds2.nonce });
    const vh2 = await f.next(T.vhds);
    expect(unpackNames(vh2)).toEqual(["sessiongate_gateway/d2.test"]);
    expect(vh2.removedResources).toEqual([]);
    send({ typeUrl: T.vhds, responseNonce: vh2.nonce });
    expect(f.got.filter((r) => r.typeUrl === T.listener || r.typeUrl === T.route)).toEqual([]);

    // Delete d1: its cluster is removed only after its virtual host's removal is settled.
    await api.unary("deleteApp", { id: "d1" }, 5000);
    const first = await f.next();
    expect(first.typeUrl).toBe(T.endpoint);
    expect(first.removedResources).toEqual(["sg_app_d1"]);
    const vh3 = await f.next(T.vhds);
    expect(vh3.removedResources).toEqual(["sessiongate_gateway/d1.test"]);
    await f.none(200);
    expect(f.got.filter((r) => r.typeUrl === T.cluster)).toEqual([]);
    send({ typeUrl: T.vhds, responseNonce: vh3.nonce });
    const cds3 = await f.next(T.cluster);
    expect(cds3.resources).toEqual([]);
    expect(cds3.removedResources).toEqual(["sg_app_d1"]);
    await api.unary("deleteApp", { id: "d2" }, 5000);
    f.end();
    c.close();
  });

  it("ECDS: filter configs go after CDS and before RDS; removed clusters wait until ECDS and RDS settle", async () => {
    await createApp("e1");
    const c = new AdsClient(`127.0.0.1:${srv.xdsPort}`, grpc.credentials.createInsecure());
    const f = new Fake<DeltaDiscoveryResponse>(c.deltaAggregatedResources());
    const send = (o: object) => f.stream.write(create(DeltaDiscoveryRequestSchema, o));
    const ack = (r: DeltaDiscoveryResponse) => send({ typeUrl: r.typeUrl, responseNonce: r.nonce });
    send({ node: node("delta-ecds"), typeUrl: T.cluster });
    ack(await f.next(T.cluster));
    send({ typeUrl: T.listener });
    ack(await f.next(T.listener));
    const filters = ["envoy.filters.http.jwt_authn", "sessiongate.strip_identity_headers"];
    send({ typeUrl: T.ecds, resourceNamesSubscribe: filters });
    const ecds0 = await f.next(T.ecds);
    expect(unpackNames(ecds0)).toEqual(filters);
    ack(ecds0);
    send({ typeUrl: T.route, resourceNamesSubscribe: ["sessiongate_gateway"] });
    ack(await f.next(T.route));
    send({ typeUrl: T.vhds });
    ack(await f.next(T.vhds));
    await f.none(300);

    // A new audience: a new cluster, a new jwt_authn requirement (ECDS), a new virtual host; no listener.
    await createApp("e2", { jwt: { ...(baseSpec("e2").jwt as object), audiences: ["other-api"] } });
    const cds1 = await f.next(T.cluster);
    const ecds1 = await f.next(T.ecds);
    const rds1 = await f.next(T.vhds);
    expect(unpackNames(ecds1)).toEqual(["envoy.filters.http.jwt_authn"]);
    expect(Number(ecds1.nonce.split("-")[1])).toBeGreaterThan(Number(cds1.nonce.split("-")[1]));
    expect(Number(rds1.nonce.split("-")[1])).toBeGreaterThan(Number(ecds1.nonce.split("-")[1]));
    for (const r of [cds1, ecds1, rds1]) ack(r);
    await f.none(300);

    // Delete e2: its cluster stays until both the jwt_authn config and the virtual hosts are settled.
    await api.unary("deleteApp", { id: "e2" }, 5000);
    const ecds2 = await f.next(T.ecds);
    const rds2 = await f.next(T.vhds);
    ack(rds2);
    await f.none(300); // ECDS still pending: no cluster removal yet
    ack(ecds2);
    const cds2 = await f.next(T.cluster);
    expect(cds2.removedResources).toEqual(["sg_app_e2"]);
    await api.unary("deleteApp", { id: "e1" }, 5000);
    f.end();
    c.close();
  });

  it("a reconnecting node that already has the config gets nothing new", async () => {
    await createApp("d3");
    const c = new AdsClient(`127.0.0.1:${srv.xdsPort}`, grpc.credentials.createInsecure());
    const f = new Fake<DeltaDiscoveryResponse>(c.deltaAggregatedResources());
    const send = (o: object) => f.stream.write(create(DeltaDiscoveryRequestSchema, o));
    send({ node: node("delta-2"), typeUrl: T.cluster });
    const cds = await f.next(T.cluster);
    send({ typeUrl: T.cluster, responseNonce: cds.nonce });
    f.end();
    const versions = Object.fromEntries(cds.resources.map((r) => [r.name, r.version]));
    const f2 = new Fake<DeltaDiscoveryResponse>(c.deltaAggregatedResources());
    f2.stream.write(
      create(DeltaDiscoveryRequestSchema, {
        node: node("delta-2"),
        typeUrl: T.cluster,
        initialResourceVersions: versions,
      }),
    );
    const again = await f2.next(T.cluster);
    expect(again.resources).toEqual([]);
    expect(again.removedResources).toEqual([]);
    f2.end();
    c.close();
    await api.unary("deleteApp", { id: "d3" }, 5000);
  });
});

async function metric(name: string): Promise<number> {
  const m = await srv.register.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((s, v) => s + v.value, 0);
}
void names;
