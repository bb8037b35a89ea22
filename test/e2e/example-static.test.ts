// examples/static/: the plain-Envoy example as a user runs it. envoy.yaml (only
// its ports moved to free ones, its admin port to the harness's) in the real
// Envoy, the stack of `npm run example:static`, and Chromium: the SPA shell
// loads on its public paths, Log in goes through the provider, the API call
// reaches the upstream with a JWT that jwt_authn checked against remote_jwks
// (and x-sessiongate-app, and no session cookie), path tricks do not bypass
// the JWT check, and Log out (POST) ends the session.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExamplePorts, type StaticExample, startStaticExample } from "../../examples/static/run.js";
import { budget, freePort, hostRequest, startBrowser, waitFor } from "../harness/index.js";

let ex: StaticExample;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let origin: string;
const COOKIE = "__Host-sg-demo";

const get = (path: string, headers: Record<string, string> = {}) =>
  hostRequest(ex.ports.gateway, path, { host: `localhost:${ex.ports.gateway}`, ...headers });

beforeAll(async () => {
  process.env.EXAMPLE_LOG_LEVEL ??= "warn";
  const ports: ExamplePorts = {
    gateway: await freePort(),
    admin: await freePort(),
    bffPublic: await freePort(),
    bffInternal: await freePort(),
    bffAdmin: await freePort(),
    op: await freePort(),
    upstream: await freePort(),
  };
  ex = await startStaticExample({ ports, envoy: true });
  origin = `http://localhost:${ports.gateway}`;
  // remote_jwks is fetched asynchronously: ready once jwt_authn has the keys
  // (a request with a token signed by the provider would otherwise see 401).
  await waitFor(
    "Envoy routing to the BFF",
    async () => (await get("/auth/demo/session").catch(() => null))?.status === 401,
    30_000,
    100,
  );
  browser = await startBrowser();
  ctx = await browser.newContext();
}, 120_000);

afterAll(async () => {
  await ctx?.close();
});

describe("examples/static/envoy.yaml in the real Envoy, logged in through Chromium", () => {
  it("public paths load without a session and without cookies upstream; the API needs a JWT", async () => {
    page = await ctx.newPage();
    const res = await page.goto(`${origin}/`);
    expect(res?.status()).toBe(200);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(10_000) });
    const shell = ex.upstream.requests.find((r) => r.path === "/")!;
    expect(shell.headers.cookie).toBeUndefined();
    // Every route names its app to the upstream; a client's own value is overwritten.
    await get("/index.html", { "x-sessiongate-app": "admin" });
    expect(ex.upstream.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("demo");
    const api = await get("/api/whoami");
    expect(api.status).toBe(401);
    expect(ex.upstream.requests.some((r) => r.path === "/api/whoami")).toBe(false);
  });

  it("path normalization: /static/../api/whoami and //api/whoami are the API route (401), never a public one", async () => {
    for (const p of ["/static/../api/whoami", "//api/whoami", "/static/%2e%2e/api/whoami"]) {
      const r = await get(p);
      expect([401, 307, 400], `${p} -> ${r.status}`).toContain(r.status);
      expect(r.status).not.toBe(200);
    }
    expect(ex.upstream.requests.some((r) => r.path.includes("whoami"))).toBe(false);
  });

  it("Log in goes through the provider and back; the API gets alice's JWT, x-sessiongate-app and no session cookie", async () => {
    await page.click("#login");
    await page.waitForURL((u) => u.origin === ex.op.issuer && u.pathname.startsWith("/interaction/"));
    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wonderland");
    await page.click('button[type="submit"]');
    await page.waitForURL(`${origin}/`, { timeout: budget(15_000) });
    await page.locator("#status", { hasText: "Logged in as" }).waitFor({ timeout: budget(10_000) });
    const cookie = (await ctx.cookies(origin)).find((c) => c.name === COOKIE);
    expect(cookie?.httpOnly).toBe(true);

    await page.click("#whoami");
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    const got = ex.upstream.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(got.headers["x-user-sub"]).toBe("alice");
    expect(String(got.headers.authorization)).toMatch(/^Bearer eyJ/);
    expect(got.headers["x-sessiongate-app"]).toBe("demo");
    for (const r of ex.upstream.requests) expect(r.headers.cookie ?? "").not.toContain(COOKIE);
    const stats = await ex.envoy!.stats();
    expect(stats.get("http.gateway.jwt_authn.allowed") ?? 0).toBeGreaterThan(0);
  });

  it("Prometheus: the filter's counters end in _total and carry the app as a label (stats_tags)", async () => {
    const text = await (await fetch(`${ex.envoy!.adminUrl}/stats/prometheus`)).text();
    const misses = /^session_to_token_misses_total\{app="demo"\} (\d+)$/m.exec(text);
    expect(
      misses,
      text
        .split("\n")
        .filter((l) => l.includes("session_to_token"))
        .join("\n"),
    ).not.toBeNull();
    expect(Number(misses![1])).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE session_to_token_misses_total counter$/m);
    // Requests without an app (no cookie) count under app="_none".
    expect(text).toMatch(/^session_to_token_passthrough_total\{app="_none"\} [1-9]/m);
  });

  it("a forged identity header never reaches the upstream (stripped before jwt_authn)", async () => {
    const jar = (await ctx.cookies(origin)).find((c) => c.name === COOKIE)!;
    const r = await get("/api/whoami", {
      cookie: `${COOKIE}=${jar.value}`,
      "x-user-email": "admin@evil.test",
    });
    expect(r.status).toBe(200);
    const got = ex.upstream.requests.filter((q) => q.path === "/api/whoami").at(-1)!;
    expect(got.headers["x-user-email"]).toBe("alice@example.test");
  });

  it("Log out ends the session: the SPA shows Log in and the old cookie is refused at the edge", async () => {
    const old = (await ctx.cookies(origin)).find((c) => c.name === COOKIE)!.value;
    await page.click("#logout");
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(15_000) });
    expect((await ctx.cookies(origin)).find((c) => c.name === COOKIE)).toBeUndefined();
    expect(ex.op.counts.end_session).toBe(1);
    // max_ttl_s is 5 in envoy.yaml: the token cache forgets the session within it.
    await waitFor(
      "the edge refuses the logged-out cookie",
      async () => (await get("/api/whoami", { cookie: `${COOKIE}=${old}` })).status === 401,
      15_000,
      200,
    );
  });
});
