// App groups on the control plane's side: the registration field (validation,
// the reserved names), the BFF directory carrying it, and the gateway route
// of the group's one redirect URI per origin — a BFF route with the same
// protections as an app's own (JWT off, route metadata "bff": true naming the
// group's cookie, so the filter forwards only the group's cookies there).
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// biome-ignore lint/suspicious/noExplicitAny: assertions walk proto3-JSON trees.
type J = any;

import { groupCookieName } from "../../contracts/rules.js";
import { toBffApp } from "../../xds-server/api/bff-directory.js";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { validateApp } from "../../xds-server/registry/validate.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { TYPE, translate } from "../../xds-server/translate/index.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "./helpers.js";
import { cfg, jwt, rec } from "./translate-fixture.js";

const member = (id: string, extra: Record<string, unknown> = {}) =>
  rec(
    {
      id,
      hosts: ["shop.test"],
      pathPrefix: `/${id}`,
      upstreams: ["127.0.0.1:9001"],
      jwt: jwt("https://op.test", "https://op.test/jwks"),
      group: "shop",
      ...extra,
    },
    1,
  );

const refused = (raw: Record<string, unknown>) => {
  try {
    validateApp({
      id: "cart",
      hosts: ["shop.test"],
      upstreams: ["127.0.0.1:9001"],
      oidc: { issuer: "https://op.test", clientId: "c", clientSecret: "s" },
      jwt: jwt("https://op.test", "https://op.test/jwks"),
      ...raw,
    });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};

describe("registration: the group field", () => {
  it("takes a DNS-label group and keeps it; no group stays absent", () => {
    expect(member("cart").spec.group).toBe("shop");
    expect(refused({ group: "" })).toBeNull();
    expect(refused({ group: "shop-2" })).toBeNull();
  });

  it.each(["Shop", "-shop", "shop_1", "a".repeat(64), "shop/x", "_group"])(
    "refuses group %j, naming the field",
    (g) => {
      expect(refused({ group: g })).toMatch(/^group: /);
    },
  );

  it("refuses a path prefix under the groups' routes and a cookie name kept for groups", () => {
    expect(refused({ pathPrefix: "/auth/_group" })).toMatch(/^path_prefix: .*kept for app groups/);
    expect(refused({ pathPrefix: "/auth/_group/shop" })).toMatch(/^path_prefix: /);
    expect(refused({ pathPrefix: "/auth/_groupie" })).toBeNull();
    expect(refused({ session: { cookieName: groupCookieName("shop") } })).toMatch(/^session.cookie_name: /);
    expect(refused({ session: { cookieName: "__host-SG-_x" } })).toMatch(/^session.cookie_name: /);
  });

  it("the BFF directory carries the group", () => {
    const secrets = { open: () => "s" } as never;
    expect(toBffApp(member("cart"), secrets).group).toBe("shop");
    expect(toBffApp(member("x", { group: undefined }), secrets).group).toBe("");
  });
});

describe("translator: the group's route", () => {
  const gw = { kind: "gateway", address: "127.0.0.1", port: 10000 } as const;
  const routesOf = (apps: ReturnType<typeof member>[]) => {
    const rc = translate({ revision: 1, apps }, cfg, gw)[TYPE.route][0].json as J;
    return rc.virtual_hosts.flatMap((v: J) => v.routes) as J[];
  };

  it("every member routes <bff prefix>/_group/<group> to the BFF like its own BFF route, with the group's cookie in the metadata", () => {
    const routes = routesOf([member("cart"), member("catalog")]);
    const group = routes.filter((r) => r.name === "sg_bff_group_shop");
    expect(group.length).toBe(2);
    for (const r of group) {
      expect(r.match).toEqual({ path_separated_prefix: "/auth/_group/shop" });
      const own = routes.find(
        (x) => x.name === `sg_bff_${JSON.parse(r.metadata.filter_metadata.sessiongate.app).id}`,
      );
      expect(r.route.cluster).toBe(own.route.cluster);
      // Same protections as the app's BFF route: the same per-filter settings (JWT off, no ext_authz).
      expect(r.typed_per_filter_config).toEqual(own.typed_per_filter_config);
      const meta = JSON.parse(r.metadata.filter_metadata.sessiongate.app);
      expect(meta.bff).toBe(true);
      expect(meta.cookie).toBe(groupCookieName("shop"));
    }
    // Longer than any member's own routes under "/": matched first.
    const order = routes.map((r) => r.name);
    expect(order.indexOf("sg_bff_group_shop")).toBeLessThan(order.indexOf("sg_app_cart"));
  });

  it("an app without a group adds no group route; sidecars get none", () => {
    const plain = member("solo", { group: undefined });
    expect(routesOf([plain]).some((r) => r.name.startsWith("sg_bff_group_"))).toBe(false);
  });
});

describe("registration API: a group has one provider client", () => {
  let srv: RunningServer;
  let api: Client;
  const spec = (id: string, clientId: string, group: string | null = "shop") => {
    const s = baseSpec(id) as Record<string, Record<string, unknown>>;
    s.oidc.clientId = clientId;
    return { ...s, hosts: ["shop.test"], pathPrefix: `/${id}`, ...(group ? { group } : {}) };
  };
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => null,
      (e: { code: number; details: string }) => e,
    );

  beforeAll(async () => {
    srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
    api = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
  });
  afterAll(async () => {
    api?.close();
    await srv?.stop();
  });

  it("a second member with another client id is refused naming oidc.client_id, and nothing changes; the same client is taken", async () => {
    await api.unary("createApp", { app: spec("cart", "shop-client") }, 5000);
    const before = await api.unary<unknown, { revision: bigint }>("listApps", {}, 5000);
    const e = await refusal(api.unary("createApp", { app: spec("catalog", "another") }, 5000));
    expect(e?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(e?.details).toMatch(/^oidc\.client_id: group shop shares one provider client/);
    const batch = await refusal(api.unary("applyApps", { apps: [spec("catalog", "another")] }, 5000));
    expect(batch?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await api.unary<unknown, { revision: bigint }>("listApps", {}, 5000)).revision).toBe(
      before.revision,
    );
    await api.unary("createApp", { app: spec("catalog", "shop-client") }, 5000);
    // Outside the group any client goes.
    await api.unary("createApp", { app: spec("solo", "another", null) }, 5000);
    const listed = await api.unary<unknown, { apps: { spec: { id: string; group: string } }[] }>(
      "listApps",
      {},
      5000,
    );
    expect(Object.fromEntries(listed.apps.map((a) => [a.spec.id, a.spec.group]))).toEqual({
      cart: "shop",
      catalog: "shop",
      solo: "",
    });
  });
});
