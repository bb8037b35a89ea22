// The translator: registry snapshot -> xDS resources (proto3 JSON). Golden
// files for the sidecar and the empty registry here, the gateway's per feature
// in translate-features.test.ts (fixture and golden helper:
// translate-fixture.ts). Every resource must also encode with the Envoy protos
// (a field or type typo fails here).
import { describe, expect, it } from "vitest";

// biome-ignore lint/suspicious/noExplicitAny: assertions walk proto3-JSON trees.
type J = any;

import { fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { RouteConfigurationSchema } from "../../protos/gen/envoy/config/route/v3/route_pb.js";
import { encodeResource, registry } from "../../xds-server/cache/encode.js";
import type { RegistrySnapshot } from "../../xds-server/registry/types.js";
import type { RawAppSpec } from "../../xds-server/registry/validate.js";
import { PUSH_ORDER } from "../../xds-server/resource/types.js";
import { roleOf, TYPE, translate } from "../../xds-server/translate/index.js";
import { pluginConfig } from "../../xds-server/translate/wasm.js";
import { cfg, golden, jwt, rec, render, snap } from "./translate-fixture.js";

describe("translate", () => {
  it("sidecar: golden", () =>
    golden("sidecar", render({ kind: "sidecar", service: "any-svc", address: "127.0.0.1" })));
  it("empty registry: golden", () => {
    const set = translate(
      { revision: 0, apps: [] },
      { ...cfg, wasm: undefined },
      { kind: "gateway", address: "127.0.0.1", port: 10000 },
    );
    golden(
      "empty",
      Object.fromEntries(PUSH_ORDER.map((t) => [t.split(".").at(-1), set[t].map((r) => r.json)])),
    );
  });

  it("HTTP filter order is on_demand -> wasm -> strip identity headers -> jwt_authn -> ext_authz -> router", () => {
    const l = translate(snap, cfg, { kind: "gateway", address: "127.0.0.1", port: 10000 })[TYPE.listener][0]
      .json as J;
    const filters = l.filter_chains[0].filters[0].typed_config.http_filters.map(
      (f: { name: string }) => f.name,
    );
    // on_demand first: a host's route is loaded before wasm (route metadata) and jwt_authn (per-route requirement) read it.
    expect(filters).toEqual([
      "envoy.filters.http.on_demand",
      "envoy.filters.http.wasm",
      "sessiongate.strip_identity_headers",
      "envoy.filters.http.jwt_authn",
      "sessiongate.ext_authz",
      "sessiongate.ext_authz_fail_open",
      "envoy.filters.http.router",
    ]);
  });

  it("gateway filters come by ECDS: the listener only names them and does not change when an app changes", () => {
    const gw = { kind: "gateway", address: "127.0.0.1", port: 10000 } as const;
    const set = translate(snap, cfg, gw);
    const hcm = (set[TYPE.listener][0].json as J).filter_chains[0].filters[0].typed_config;
    const byName = new Map(set[TYPE.ecds].map((r) => [r.name, r.json as J]));
    for (const f of hcm.http_filters.slice(0, -1)) {
      expect(f.typed_config, f.name).toBeUndefined();
      expect(f.config_discovery.config_source).toEqual({ ads: {}, resource_api_version: "V3" });
      const ecds = byName.get(f.name);
      expect(ecds, f.name).toBeDefined();
      expect(f.config_discovery.type_urls).toEqual([ecds!.typed_config["@type"]]);
    }
    expect([...byName.keys()].sort()).toEqual(
      hcm.http_filters
        .slice(0, -1)
        .map((f: { name: string }) => f.name)
        .sort(),
    );
    // One more app (another host, prefix and audience): the listener is byte-for-byte the same.
    const more = rec(
      {
        id: "zz",
        hosts: ["zz.example.com"],
        upstreams: ["10.0.0.7:80"],
        jwt: { ...jwt("https://op.test", "https://op.test/jwks"), audiences: ["zz"] },
      },
      8,
    );
    const set2 = translate({ revision: 8, apps: [...snap.apps, more] }, cfg, gw);
    expect(JSON.stringify(set2[TYPE.listener])).toBe(JSON.stringify(set[TYPE.listener]));
  });

  it("the gateway listener is the same with no app and with a first app with claim headers (jwt_authn and the strip are always in the chain)", () => {
    const gw = { kind: "gateway", address: "127.0.0.1", port: 10000 } as const;
    const empty = translate({ revision: 1, apps: [] }, cfg, gw);
    const first = rec(
      {
        id: "first",
        hosts: ["first.example.com"],
        upstreams: ["10.0.0.8:80"],
        jwt: jwt("https://op.test", "https://op.test/jwks", [{ claim: "sub", header: "x-user" }]),
      },
      2,
    );
    const one = translate({ revision: 2, apps: [first] }, cfg, gw);
    // Envoy shares the routes between a draining and a warming listener: were the
    // listener to change here, the first app's route would go live, for a moment,
    // on a chain without jwt_authn.
    expect(JSON.stringify(one[TYPE.listener])).toBe(JSON.stringify(empty[TYPE.listener]));
    const names = (set: typeof empty) =>
      (set[TYPE.listener][0].json as J).filter_chains[0].filters[0].typed_config.http_filters.map(
        (f: { name: string }) => f.name,
      );
    expect(names(empty)).toContain("envoy.filters.http.jwt_authn");
  });

  it("jwt_authn: apps of one issuer+JWKS share a provider; routes name a requirement with their audiences", () => {
    const mk = (id: string, aud: string) =>
      rec(
        {
          id,
          hosts: [`${id}.example.com`],
          upstreams: ["10.0.0.7:80"],
          jwt: { ...jwt("https://op.test", "https://op.test/jwks"), audiences: [aud] },
        },
        1,
      );
    const three = [mk("a", "api"), mk("b", "api"), mk("c", "other")];
    const set = translate({ revision: 1, apps: three }, cfg, {
      kind: "gateway",
      address: "0.0.0.0",
      port: 1,
    });
    const jwtCfg = set[TYPE.ecds].find((r) => r.name === "envoy.filters.http.jwt_authn")!.json as J;
    const providers = Object.keys(jwtCfg.typed_config.providers);
    expect(providers).toHaveLength(1);
    const reqs = jwtCfg.typed_config.requirement_map;
    expect(Object.keys(reqs)).toHaveLength(2);
    const routes = (set[TYPE.route][0].json as J).virtual_hosts.flatMap((v: J) => v.routes);
    const req = (id: string) =>
      routes.find((r: J) => r.name === `sg_app_${id}`).typed_per_filter_config["envoy.filters.http.jwt_authn"]
        .requirement_name;
    expect(req("a")).toBe(req("b"));
    expect(req("a")).not.toBe(req("c"));
    expect(reqs[req("c")]).toEqual({
      provider_and_audiences: { provider_name: providers[0], audiences: ["other"] },
    });
  });

  it("routes: longest prefix first, BFF routes without JWT, internal BFF never routed", () => {
    const r = translate(snap, cfg, { kind: "gateway", address: "127.0.0.1", port: 10000 })[TYPE.route][0]
      .json as J;
    const vh = r.virtual_hosts.find((v: { domains: string[] }) => v.domains.includes("shop.example.com"));
    const names = vh.routes.map((x: { name: string }) => x.name);
    expect(names).toEqual([
      "sg_public_any_0",
      "sg_bff_any",
      "sg_public_shop_1",
      "sg_bff_api",
      "sg_public_shop_2",
      "sg_app_any",
      "sg_bff_shop",
      "sg_app_api",
      "sg_public_shop_0",
      "sg_app_shop",
    ]);
    const bff = vh.routes.find((x: { name: string }) => x.name === "sg_bff_api");
    expect(bff.match).toEqual({ path_separated_prefix: "/api/auth" });
    expect(bff.typed_per_filter_config["envoy.filters.http.jwt_authn"].disabled).toBe(true);
    expect(JSON.stringify(r)).not.toContain("sessiongate_bff_internal");
    const wild = r.virtual_hosts.find((v: { domains: string[] }) => v.domains.includes("*"));
    expect(wild.routes.map((x: { name: string }) => x.name)).toEqual([
      "sg_public_any_0",
      "sg_bff_any",
      "sg_app_any",
    ]);
  });

  it("public paths: before the JWT route, no wasm/jwt_authn/ext_authz, cookie removed; never inside another app's prefix", () => {
    const r = translate(snap, cfg, { kind: "gateway", address: "127.0.0.1", port: 10000 })[TYPE.route][0]
      .json as J;
    const vh = r.virtual_hosts.find((v: { domains: string[] }) => v.domains.includes("shop.example.com"));
    const byName = (n: string) => vh.routes.find((x: { name: string }) => x.name === n);
    expect(byName("sg_public_shop_0").match).toEqual({ path: "/" });
    expect(byName("sg_public_shop_2").match).toEqual({ prefix: "/assets/" });
    const pub = byName("sg_public_shop_1");
    expect(pub.match).toEqual({ path: "/index.html" });
    expect(pub.route.cluster).toBe("sg_app_shop");
    expect(pub.request_headers_to_remove).toEqual(["cookie", "authorization"]);
    const pf = pub.typed_per_filter_config;
    expect(pf["envoy.filters.http.wasm"].disabled).toBe(true);
    expect(pf["envoy.filters.http.jwt_authn"].disabled).toBe(true);
    // ext_authz: no entry on the route, so the virtual host's default (both filters off) holds.
    expect(pf["sessiongate.ext_authz"]).toBeUndefined();
    expect(vh.typed_per_filter_config["sessiongate.ext_authz"].disabled).toBe(true);
    expect(vh.typed_per_filter_config["sessiongate.ext_authz_fail_open"].disabled).toBe(true);
    // shop's "/api/docs" is app api's on this host (longer prefix): not routed as public.
    expect(JSON.stringify(vh.routes)).not.toContain("/api/docs");
    // Sidecars honour public paths too (the gateway forwards those requests without a JWT).
    const sc = translate(snap, cfg, { kind: "sidecar", service: "any-svc", address: "127.0.0.1" })[
      TYPE.route
    ][0].json as J;
    const scRoutes = sc.virtual_hosts[0].routes;
    expect(scRoutes.map((x: { name: string }) => x.name)).toEqual(["sg_public_any_0", "sg_app_any"]);
    expect(scRoutes[0].typed_per_filter_config["envoy.filters.http.jwt_authn"].disabled).toBe(true);
    expect(scRoutes[0].typed_per_filter_config["envoy.filters.http.wasm"]).toBeUndefined();
    expect(scRoutes[0].request_headers_to_remove).toContain("cookie");
  });

  it("public paths over a configured BFF prefix (not the default one validation knows) are not routed", () => {
    const app = rec(
      {
        id: "spa",
        hosts: ["spa.example.com"],
        upstreams: ["10.0.0.7:80"],
        jwt: jwt("https://op.test", "https://op.test/jwks"),
        publicPaths: ["/login/x", "/ok"],
      },
      1,
    );
    const r = translate(
      { revision: 1, apps: [app] },
      { ...cfg, bff: { ...cfg.bff, prefix: "/login" } },
      { kind: "gateway", address: "0.0.0.0", port: 1 },
    )[TYPE.route][0].json as J;
    const names = r.virtual_hosts[0].routes.map((x: J) => x.name);
    expect(names).toEqual(["sg_bff_spa", "sg_public_spa_1", "sg_app_spa"]);
  });

  it("wasm plugin configuration follows the contract and lists no apps: the same for every registry", () => {
    const pc = pluginConfig(cfg) as J;
    expect(pc.bff_cluster).toBe("sessiongate_bff_internal");
    expect(pc.bff_path).toBe("/internal/v1/session-token");
    expect(pc.apps).toEqual([]);
    const ecds = (s: RegistrySnapshot) =>
      JSON.stringify(
        translate(s, cfg, { kind: "gateway", address: "0.0.0.0", port: 1 })[TYPE.ecds].find(
          (r) => r.name === "envoy.filters.http.wasm",
        ),
      );
    expect(ecds(snap)).toBe(ecds({ revision: 1, apps: [] }));
    expect(ecds(snap)).toBe(ecds({ revision: 9, apps: snap.apps.slice(1) }));
  });

  it("puts each app's session-to-token settings on its app and BFF routes (id, cookie, allowed origins; bff on BFF routes)", () => {
    const r = translate(snap, cfg, { kind: "gateway", address: "0.0.0.0", port: 1 })[TYPE.route][0].json as J;
    const routes: J[] = r.virtual_hosts.flatMap((v: J) => v.routes);
    const meta = (x: J) => x.metadata?.filter_metadata?.sessiongate?.app;
    const shop = routes.find((x) => x.name === "sg_app_shop");
    // Default cookie name (__Host-sg-<id>) is left out: the filter derives it.
    expect(JSON.parse(meta(shop))).toEqual({ id: "shop", allowed_origins: ["https://shop.example.com"] });
    for (const x of routes) {
      if (x.name.startsWith("sg_app_")) {
        expect(JSON.parse(meta(x)).id).toBe(x.name.slice("sg_app_".length));
        expect(JSON.parse(meta(x)).bff).toBeUndefined();
      } else if (x.name.startsWith("sg_bff_")) {
        // The filter runs on BFF routes, keeping only that app's own cookies for the BFF.
        expect(JSON.parse(meta(x))).toMatchObject({ id: x.name.slice("sg_bff_".length), bff: true });
        expect(x.typed_per_filter_config["envoy.filters.http.wasm"]).toBeUndefined();
      } else {
        // Public routes disable the filter (they remove Cookie) and carry no app settings.
        expect(x.metadata).toBeUndefined();
        expect(x.typed_per_filter_config["envoy.filters.http.wasm"].disabled).toBe(true);
      }
    }
    const custom = rec(
      {
        id: "c1",
        hosts: ["c.example.com", "*"],
        upstreams: ["10.0.0.9:80"],
        jwt: jwt("https://op.test", "https://op.test/jwks"),
        session: { cookieName: "__Host-sg-sid", allowedOrigins: ["https://x.example"] },
      } as RawAppSpec,
      1,
    );
    const cr = translate({ revision: 1, apps: [custom] }, cfg, {
      kind: "gateway",
      address: "0.0.0.0",
      port: 1,
    })[TYPE.route][0].json as J;
    const c1 = cr.virtual_hosts[0].routes.find((x: J) => x.name === "sg_app_c1");
    expect(JSON.parse(meta(c1))).toEqual({
      id: "c1",
      cookie: "__Host-sg-sid",
      allowed_origins: ["https://x.example"],
    });
    // Without the wasm filter (no module built) the routes carry no settings for it.
    const noWasm = translate(
      { revision: 1, apps: [custom] },
      { ...cfg, wasm: undefined },
      {
        kind: "gateway",
        address: "0.0.0.0",
        port: 1,
      },
    )[TYPE.route][0].json as J;
    expect(noWasm.virtual_hosts[0].routes.every((x: J) => x.metadata === undefined)).toBe(true);
  });

  it("Delta gateways: a RouteConfiguration naming VHDS, one VirtualHost resource per host, the same hosts as SotW's", () => {
    const gw = { kind: "gateway", address: "127.0.0.1", port: 10000 } as const;
    const sotw = translate(snap, cfg, gw);
    const delta = translate(snap, cfg, { ...gw, vhds: true });
    const [rc] = delta[TYPE.route];
    // The skeleton depends on no app: one app's change never re-sends it.
    expect(rc.json).toEqual({
      name: "sessiongate_gateway",
      vhds: { config_source: { ads: {}, resource_api_version: "V3" } },
      validate_clusters: false,
    });
    expect(rc.apps).toEqual([]);
    const inline = (sotw[TYPE.route][0].json as J).virtual_hosts as J[];
    const [anchor, ...vhs] = [...delta[TYPE.vhds]].sort(
      (a, b) => Number(b.apps.length === 0) - Number(a.apps.length === 0),
    );
    // Present even with no apps (an empty Delta response never completes Envoy's VHDS fetch).
    expect(anchor.json).toEqual({
      name: "sessiongate_gateway/sessiongate.invalid",
      domains: ["sessiongate.invalid"],
      routes: [],
    });
    expect(translate({ revision: 0, apps: [] }, cfg, { ...gw, vhds: true })[TYPE.vhds]).toEqual([anchor]);
    // The same virtual hosts, named like their resource (Envoy removes a virtual host by that name).
    expect(vhs.map((r) => ({ ...r.json, name: undefined }))).toEqual(
      inline.map((v) => ({ ...v, name: undefined })),
    );
    for (const r of vhs) {
      expect((r.json as J).name).toBe(r.name);
      expect(r.name).toMatch(/^sessiongate_gateway\/[^/]+$/);
      const vh = r.json as J;
      expect(vh.domains.some((d: string) => `sessiongate_gateway/${d}` === r.name)).toBe(true);
      // NACK attribution names exactly the apps routed on that host.
      const ids = new Set(vh.routes.map((x: J) => x.request_headers_to_add[0].header.value));
      expect(new Set(r.apps)).toEqual(ids);
      expect(() => encodeResource(TYPE.vhds, r.json)).not.toThrow();
    }
    // Everything else is the same for both flavours.
    for (const t of [TYPE.cluster, TYPE.endpoint, TYPE.ecds, TYPE.listener])
      expect(delta[t]).toEqual(sotw[t]);
    expect(sotw[TYPE.vhds]).toEqual([]);
    expect(roleOf({ cluster: "gw", metadata: {}, adsMode: "delta" }, snap, cfg)).toEqual({
      ...gw,
      address: "0.0.0.0",
      vhds: true,
    });
    expect(roleOf({ cluster: "gw", metadata: {}, adsMode: "sotw" }, snap, cfg)).toEqual({
      ...gw,
      address: "0.0.0.0",
    });
  });

  it("is deterministic and node roles follow node identity", () => {
    const a = JSON.stringify(translate(snap, cfg, { kind: "gateway", address: "127.0.0.1", port: 1 }));
    const b = JSON.stringify(
      translate({ ...snap, apps: [...snap.apps] }, cfg, { kind: "gateway", address: "127.0.0.1", port: 1 }),
    );
    expect(a).toBe(b);
    expect(roleOf({ cluster: "any-svc", metadata: {} }, snap, cfg)).toEqual({
      kind: "sidecar",
      service: "any-svc",
      address: "0.0.0.0",
    });
    expect(
      roleOf({ cluster: "gw", metadata: { listener_port: 8080, listener_address: "127.0.0.1" } }, snap, cfg),
    ).toEqual({ kind: "gateway", address: "127.0.0.1", port: 8080 });
    expect(roleOf({ cluster: "gw", metadata: { listener_port: "nope" } }, snap, cfg)).toEqual({
      kind: "gateway",
      address: "0.0.0.0",
      port: 10000,
    });
  });
});

describe("encode", () => {
  it("a RouteConfiguration assembled from cached virtual hosts equals the whole-message encoding", () => {
    const r = translate(snap, cfg, { kind: "gateway", address: "127.0.0.1", port: 10000 })[TYPE.route][0]
      .json;
    const fast = encodeResource(TYPE.route, r);
    const again = encodeResource(TYPE.route, r); // now from the cache
    const whole = toBinary(
      RouteConfigurationSchema,
      fromJson(RouteConfigurationSchema, r as never, { registry }),
    );
    const decode = (b: Uint8Array) =>
      toJson(RouteConfigurationSchema, fromBinary(RouteConfigurationSchema, b), {
        registry,
        useProtoFieldName: true,
      });
    expect(decode(fast.value)).toEqual(decode(whole));
    expect(again.value).toEqual(fast.value);
    expect((decode(fast.value) as J).virtual_hosts.length).toBe((r as J).virtual_hosts.length);
  });
});
