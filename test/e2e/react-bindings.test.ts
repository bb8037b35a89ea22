// sessiongate/react in Chromium: the React demo SPA (React's production build
// and sessiongate/react bundled by esbuild, the BFF's served client.js through
// the import map) behind the real gateway, BFF and OP, in tokenExchange mode.
// <RequireSession redirectToLogin> starts the login; useSession() shows the
// user; useToken() gets a short-lived token and a new one before it expires
// with no user action; a logout in another tab and a back-channel logout at
// the OP show in the open tab by themselves; no token in browser storage.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { ALICE, pageFetch } from "./browser-steps.js";

// Short access tokens: the client renews at half their lifetime (8 s).
const AT_TTL_S = 16;

let stack: DemoStack;
let app: DemoApp;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
/** Every /token answer any tab got, in order. */
const issued: { at: number; token: string }[] = [];

const expOf = (jwt: string) =>
  Number(JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8")).exp);

/** The OP's sign-in form (no OP session here: none yet, or ended by a logout), then back on `back`. */
async function passOpLogin(p: Page, back: string): Promise<void> {
  const op = stack.op!;
  await p.waitForURL((u) => u.origin === op.issuer && u.pathname.startsWith("/interaction/"), {
    timeout: budget(15_000),
  });
  await p.fill('input[name="username"]', ALICE.username);
  await p.fill('input[name="password"]', ALICE.password);
  await p.click('button[type="submit"]');
  await p.waitForURL((u) => u.href === back, { timeout: budget(15_000) });
}

const status = (p: Page, s: string) =>
  p.locator(`#status[data-status="${s}"]`).waitFor({ timeout: budget(15_000) });

beforeAll(async () => {
  stack = await startDemoStack({
    port: await freePort(),
    idp: null,
    apps: [{ id: "spa", mode: "tokenExchange", spa: "react" }],
    opAccessTokenTtlS: AT_TTL_S,
  });
  app = stack.app("spa");
  browser = await startBrowser();
  ctx = await browser.newContext();
  ctx.on("response", (res) => {
    if (res.url() !== `${app.authBase}/token` || res.status() !== 200) return;
    const at = Date.now();
    res
      .json()
      .then((b: { access_token: string }) => void issued.push({ at, token: b.access_token }))
      .catch(() => {});
  });
  // A script error in the SPA shows in the test's output, not only as a timeout.
  ctx.on("weberror", (e) => process.stderr.write(`react SPA error: ${e.error().message}\n`));
  ctx.on("console", (m) => {
    // (a 401 from /session or /token is the page's normal answer without a session)
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
      process.stderr.write(`react SPA console: ${m.text()}\n`);
  });
  page = await ctx.newPage();
}, budget(120_000));

afterAll(async () => {
  await ctx?.close();
});

describe("sessiongate/react in Chromium (tokenExchange app)", () => {
  it("the React build is served; without a session useSession() says so and <RequireSession> shows its placeholder", async () => {
    await page.goto(app.url);
    await status(page, "unauthenticated");
    await page.locator("#guard").waitFor({ timeout: budget(10_000) });
    expect(await page.locator("#api").count()).toBe(0);
    expect(await page.textContent("#mode")).toContain("tokenExchange mode");
    const js = await pageFetch(page, "/static/react-app.js");
    expect(js.status).toBe(200);
    // React's production build with the bindings in it (booleans: the bundle is too long to print).
    expect(js.body.includes("react.production.js"), "React's production build").toBe(true);
    expect(js.body.includes("react.development"), "React's development build").toBe(false);
    expect(js.body.includes("must be used inside <SessionProvider>"), "sessiongate/react").toBe(true);
    expect(issued).toHaveLength(0);
  });

  it("<RequireSession redirectToLogin> sends a visitor to the login; back, useSession() has the user and useToken() a token", async () => {
    const guarded = `${app.url}?guard=redirect`;
    await page.goto(guarded);
    await passOpLogin(page, guarded);
    await status(page, "authenticated");
    expect(await page.textContent("#status")).toBe("Logged in as Alice Liddell (alice)");
    await page.locator('#api[data-token-status="ready"]').waitFor({ timeout: budget(10_000) });
    expect(issued).toHaveLength(1);
    expect(await page.getAttribute("#api", "data-tokens")).toBe("1");
    expect(Number(await page.getAttribute("#api", "data-token-exp"))).toBe(expOf(issued[0].token));
  });

  it("the client's fetch sends useToken()'s token as a Bearer, no cookie; jwt_authn lets it through", async () => {
    await page.click("#whoami");
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    const got = app.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${issued.at(-1)!.token}`);
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers["x-user-sub"]).toBe("alice");
  });

  it("useToken() gets a new token before the old one expires, with no user action", async () => {
    const first = issued.at(-1)!;
    await waitFor(
      "useToken() renewing the access token",
      async () => Number(await page.getAttribute("#api", "data-tokens")) >= 2,
      2 * AT_TTL_S * 1000,
      250,
    );
    const renewed = issued.find((i) => i.token !== first.token)!;
    expect(renewed).toBeDefined();
    expect(renewed.at / 1000).toBeLessThan(expOf(first.token));
    expect(expOf(renewed.token)).toBeGreaterThan(expOf(first.token));
    // What the component renders is the renewed token's.
    await waitFor(
      "the renewed token rendered",
      async () => Number(await page.getAttribute("#api", "data-token-exp")) === expOf(issued.at(-1)!.token),
      budget(5_000),
    );
    expect(stack.op!.counts.refresh_token).toBeGreaterThanOrEqual(1);
    // And it works at the API.
    const answered = page.waitForResponse((r) => r.url() === `${app.origin}/api/whoami`);
    await page.click("#whoami");
    expect((await answered).status()).toBe(200);
    const got = app.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${issued.at(-1)!.token}`);
  });

  it("invariant 1: no access token in localStorage, sessionStorage, readable cookies or IndexedDB", async () => {
    const held = (await page.evaluate(`(async () => JSON.stringify({
      local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie,
      idb: (await indexedDB.databases()).map((d) => d.name) }))()`)) as string;
    expect(JSON.parse(held).idb).toEqual([]);
    for (const i of issued)
      expect(held.includes(i.token), "browser storage holds an access token").toBe(false);
  });

  it("Log out in another tab: both tabs show logged out by themselves; the token is gone from the page", async () => {
    // The first tab on the unguarded page (a guard with redirectToLogin would go to the login).
    await page.goto(app.url);
    await status(page, "authenticated");
    await page.locator('#api[data-token-status="ready"]').waitFor({ timeout: budget(10_000) });
    const other = await ctx.newPage();
    await other.goto(app.url);
    await status(other, "authenticated");
    await other.click("#logout");
    await waitFor("the OP's end-session", async () => stack.op!.counts.end_session >= 1, budget(15_000));
    await other.waitForURL(app.url, { timeout: budget(15_000) });
    await status(other, "unauthenticated");
    // The first tab was not touched.
    await status(page, "unauthenticated");
    await page.locator("#guard").waitFor({ timeout: budget(10_000) });
    expect(await page.locator("#api").count()).toBe(0);
    const r = await pageFetch(page, `${app.authBase}/token`, {
      method: "POST",
      headers: { "x-sessiongate-csrf": "1" },
    });
    expect(r.status).toBe(401);
    await other.close();
  });

  it("a back-channel logout at the OP shows in the open tab by itself", async () => {
    await page.click("#login");
    await passOpLogin(page, app.url);
    await status(page, "authenticated");
    await page.locator('#api[data-token-status="ready"]').waitFor({ timeout: budget(10_000) });
    const before = stack.op!.counts.backchannel_logout;
    const opTab = await ctx.newPage();
    const end = new URL(`${stack.op!.issuer}/session/end`);
    end.searchParams.set("client_id", app.clientId);
    await opTab.goto(end.href);
    await waitFor(
      "the OP's back-channel logout",
      async () => stack.op!.counts.backchannel_logout > before,
      budget(15_000),
    );
    await opTab.close();
    // No click, no navigation: the provider's periodic check (or useToken's next
    // renewal, answered 401) finds the session gone.
    await status(page, "unauthenticated");
    expect(await page.locator("#api").count()).toBe(0);
    expect(new URL(page.url()).href).toBe(app.url);
  });
});
