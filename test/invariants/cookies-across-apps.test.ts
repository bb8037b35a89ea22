// Invariant 6 across apps (docs/architecture.md#invariant-6; issue 12 item 1): no upstream ever
// receives a sessiongate cookie of any app. Three apps on ONE host through
// the xDS-driven gateway (real Envoy, xds-server, BFF, Redis, OP), as in the
// attack: `demo` at `/`, `mall` under `/mall` with public paths, `tx` under
// `/tx` in tokenExchange mode. The user is logged in to all three, so every
// request carries all three session cookies (and a login cookie); every
// upstream request is checked, on every kind of route, and one app's session
// id replayed under another app's cookie name yields no token there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setCookies } from "../bff/helpers.js";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, hostRequest, OpBrowser } from "../harness/index.js";

let stack: DemoStack;
let apps: DemoApp[];
const sids = new Map<string, string>();

/** Logs in to one app, every step through the gateway; returns the session id. */
async function login(app: DemoApp): Promise<string> {
  const start = await fetch(`${app.authBase}/login?return_to=%2F`, { redirect: "manual" });
  expect(start.status).toBe(302);
  const loginCookie = setCookies(start).get(`${app.cookieName}-login`)?.value ?? "";
  const callback = await new OpBrowser(stack.op!.issuer).login(start.headers.get("location") ?? "", {
    username: "alice",
    password: "wonderland",
  });
  const cb = await fetch(callback, {
    redirect: "manual",
    headers: { cookie: `${app.cookieName}-login=${loginCookie}` },
  });
  expect(cb.status).toBe(200);
  return setCookies(cb).get(app.cookieName)?.value ?? "";
}

/** Every cookie the browser holds for the host: the three sessions and a login cookie in flight. */
const allCookies = () =>
  [...apps.map((a) => `${a.cookieName}=${sids.get(a.id)}`), "__Host-sg-mall-login=state", "theme=dark"].join(
    "; ",
  );

beforeAll(async () => {
  stack = await startDemoStack({
    port: await freePort(),
    cacheMaxTtlS: 2,
    idp: null,
    apps: [
      { id: "demo", host: "localhost" },
      { id: "mall", host: "localhost", pathPrefix: "/mall", publicPaths: ["/mall/shop/*"] },
      { id: "tx", host: "localhost", pathPrefix: "/tx", mode: "tokenExchange" },
    ],
  });
  apps = stack.apps;
  for (const a of apps) sids.set(a.id, await login(a));
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe("invariant 6 across apps: no upstream receives any sessiongate cookie", () => {
  it("three apps on one host, logged in to all: every route's upstream gets only the other cookies", async () => {
    const host = apps[0].host;
    const before = new Map(apps.map((a) => [a.id, a.demo.requests.length]));
    const cases: [string, number[]][] = [
      ["/api/whoami", [200]], // demo's app route
      ["/", [200]], // demo's public shell
      ["/mall/api/x", [404]], // mall's app route (its upstream has no /mall/api/x: 404 from it)
      ["/mall/shop/item", [404]], // mall's public path
      ["/mallory", [404]], // not mall's: demo's route
      ["/tx/api/x", [404]], // tx's app route
      ["/MALL/api/x", [404]], // case differs: demo's route
    ];
    for (const [path, statuses] of cases) {
      const r = await hostRequest(stack.gatewayPort, path, { host, cookie: allCookies() });
      expect(statuses, `${path} -> ${r.status} ${r.body.slice(0, 120)}`).toContain(r.status);
    }
    // A host with no app: no route at all, nothing upstream.
    const none = await hostRequest(stack.gatewayPort, "/api/whoami", {
      host: `nowhere.localhost:${stack.gatewayPort}`,
      cookie: allCookies(),
    });
    expect(none.status).toBe(404);

    let seen = 0;
    for (const a of apps) {
      const got = a.demo.requests.slice(before.get(a.id));
      seen += got.length;
      for (const r of got) {
        const what = `${a.id} upstream: ${r.method} ${r.path}`;
        const cookie = String(r.headers.cookie ?? "");
        expect(cookie.toLowerCase(), what).not.toContain("__host-sg-");
        for (const sid of sids.values()) expect(JSON.stringify(r.headers), what).not.toContain(sid);
      }
      // App routes still get the non-sessiongate cookies; public paths get none.
      for (const r of got.filter((x) => x.path.includes("/api/")))
        expect(r.headers.cookie, `${a.id} ${r.path}`).toBe("theme=dark");
    }
    expect(seen).toBe(cases.length);
    // Each app's route carried a token for that app's own session.
    const demoApi = apps[0].demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(String(demoApi.headers.authorization)).toMatch(/^Bearer eyJ/);
    for (const a of apps.slice(1)) {
      const api = a.demo.requests.filter((r) => r.path.startsWith(`${a.pathPrefix}/api/`)).at(-1)!;
      expect(String(api.headers.authorization), a.id).toMatch(/^Bearer eyJ/);
    }
  });

  it("each app's BFF routes get that app's own session cookie through the filter (and work)", async () => {
    // Logins above went through the BFF routes with the filter on them (login cookie kept).
    for (const a of apps) {
      const r = await hostRequest(stack.gatewayPort, `${new URL(a.authBase).pathname}/session`, {
        host: a.host,
        cookie: allCookies(),
      });
      expect(r.status, `${a.id}: ${r.body.slice(0, 120)}`).toBe(200);
      expect(JSON.parse(r.body)).toMatchObject({ app: a.id, sub: "alice" });
    }
  });

  it("one app's session id under another app's cookie name yields no token there (401), and ends nothing", async () => {
    const host = apps[0].host;
    const mall = apps[1];
    const before = mall.demo.requests.length;
    const replay = await hostRequest(stack.gatewayPort, "/mall/api/x", {
      host,
      cookie: `${mall.cookieName}=${sids.get("demo")}`,
    });
    expect(replay.status).toBe(401);
    expect(JSON.parse(replay.body).error).toBe("no_session");
    expect(mall.demo.requests.length).toBe(before);
    // demo's session, on its own route, still works.
    const own = await hostRequest(stack.gatewayPort, "/api/whoami", {
      host,
      cookie: `${apps[0].cookieName}=${sids.get("demo")}`,
    });
    expect(own.status).toBe(200);
  });
});
