// A tokenExchange-mode app on the gateway, in Debian's Chromium: the SPA's
// browser client (the BFF's client.js) gets a short-lived access token from
// <prefix>/<app>/token, calls the API with `Authorization: Bearer` through
// Envoy (jwt_authn validates it, the upstream echoes the verified claims),
// renews it before it expires, and the refresh token never reaches the
// browser (docs/architecture.md#invariant-1).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { Browser, BrowserContext, Page, Request, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, hostRequest, REPO_ROOT, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";

const ARTIFACTS = join(REPO_ROOT, "test/.artifacts");
// Short access tokens: the client renews at half their lifetime.
const AT_TTL_S = 16;

let stack: DemoStack;
let app: DemoApp;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
const seen: { url: string; status: number; body: string }[] = [];
const pending: Promise<void>[] = [];
/** Every /token answer the page got, in order. */
const issued: { at: number; token: string; expiresIn: number }[] = [];
/** Every API call the page made: the bearer it sent and when. */
const apiCalls: { at: number; token: string; cookie: string | undefined }[] = [];
// What the OP handed to the BFF: searched for in everything the browser holds.
const refreshTokens: string[] = [];
const idTokens: string[] = [];

const claims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;

function record(res: Response): void {
  // A body can stay unreadable (a navigation superseded mid-flight): bound each read.
  const timeout = new Promise<void>((r) => setTimeout(r, 5_000).unref());
  const read = res
    .text()
    .then((body) => {
      seen.push({ url: res.url(), status: res.status(), body });
      if (res.url() === `${app.authBase}/token` && res.status() === 200) {
        const b = JSON.parse(body) as { access_token: string; expires_in: number };
        issued.push({ at: Date.now(), token: b.access_token, expiresIn: b.expires_in });
      }
    })
    .catch(() => {}); // redirects have no readable body
  pending.push(Promise.race([read, timeout]));
}

/** The SPA's own API calls (the test's probes carry x-test-probe and are left out). */
async function recordApiCall(req: Request): Promise<void> {
  if (req.url() !== `${app.origin}/api/whoami`) return;
  const at = Date.now();
  const h = await req.allHeaders();
  if (h["x-test-probe"]) return;
  apiCalls.push({ at, token: (h.authorization ?? "").replace(/^Bearer /, ""), cookie: h.cookie });
}

/** fetch from inside the page: what the SPA's own JavaScript would get. */
function pageFetch(
  url: string,
  init: { method?: string; headers?: Record<string, string>; credentials?: "omit" | "include" } = {},
): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ([u, i]) => {
      const r = await fetch(u, { ...i, credentials: i.credentials ?? "include" });
      return { status: r.status, body: await r.text() };
    },
    [url, init] as const,
  );
}

// Everything a script on the page can read besides response bodies: the Web
// Storage areas, document.cookie, every IndexedDB store and the Cache API.
const READ_BROWSER_STORAGE = `(async () => {
  const out = { local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }),
    cookie: document.cookie, idb: [], caches: [] };
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, no) => {
      const r = indexedDB.open(info.name);
      r.onsuccess = () => ok(r.result);
      r.onerror = () => no(r.error);
    });
    for (const name of db.objectStoreNames) {
      const all = await new Promise((ok, no) => {
        const r = db.transaction(name).objectStore(name).getAll();
        r.onsuccess = () => ok(r.result);
        r.onerror = () => no(r.error);
      });
      out.idb.push(info.name + "/" + name + ":" + JSON.stringify(all));
    }
    db.close();
  }
  for (const key of await caches.keys()) {
    const cache = await caches.open(key);
    for (const req of await cache.keys()) out.caches.push(req.url + ":" + (await (await cache.match(req)).text()));
  }
  return out;
})()`;

beforeAll(async () => {
  stack = await startDemoStack({
    port: await freePort(),
    idp: null,
    apps: [{ id: "spa", mode: "tokenExchange" }],
    opAccessTokenTtlS: AT_TTL_S,
  });
  app = stack.app("spa");
  stack.op!.provider.on("grant.success", (c) => {
    const body = c.body as { refresh_token?: string; id_token?: string } | undefined;
    if (body?.refresh_token) refreshTokens.push(body.refresh_token);
    if (body?.id_token) idTokens.push(body.id_token);
  });
  browser = await startBrowser();
  ctx = await browser.newContext();
  page = await ctx.newPage();
  page.on("response", record);
  page.on("request", (req) => void recordApiCall(req));
}, budget(120_000));

afterAll(async () => {
  await ctx?.close();
});

describe("tokenExchange app in Chromium", () => {
  it("the SPA logs in and its client gets a short-lived access token from /token (CSRF header, POST)", async () => {
    const tokenRequests: Request[] = [];
    page.on("request", (r) => void (r.url() === `${app.authBase}/token` && tokenRequests.push(r)));
    await page.goto(app.url);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(10_000) });
    expect(await page.textContent("#mode")).toContain("tokenExchange mode");
    await page.click("#login");
    await page.waitForURL((u) => u.origin === stack.op!.issuer && u.pathname.startsWith("/interaction/"));
    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wonderland");
    await page.click('button[type="submit"]');
    await page.waitForURL(app.url, { timeout: budget(15_000) });
    await page
      .locator("#status", { hasText: "Logged in as Alice Liddell (alice)" })
      .waitFor({ timeout: budget(10_000) });
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    await Promise.all(pending);
    expect(issued.length).toBe(1);
    expect(issued[0].expiresIn).toBeGreaterThan(0);
    expect(issued[0].expiresIn).toBeLessThanOrEqual(AT_TTL_S);
    expect(claims(issued[0].token).exp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + AT_TTL_S);
    expect(tokenRequests[0].method()).toBe("POST");
    expect((await tokenRequests[0].allHeaders())["x-sessiongate-csrf"]).toBe("1");
  });

  it("the API call carries that token as a Bearer (no cookie); jwt_authn validates it; the upstream echoes its claims", async () => {
    await page.click("#whoami");
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    const call = apiCalls.at(-1)!;
    expect(call.token).toBe(issued.at(-1)!.token);
    expect(call.cookie).toBeUndefined(); // credentials: "omit": the gateway's filter is not involved
    const got = app.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${call.token}`);
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers["x-user-sub"]).toBe("alice");
    const op = stack.op!;
    const { payload } = await jwtVerify(call.token, createRemoteJWKSet(new URL(op.jwksUri)), {
      issuer: op.issuer,
      audience: op.audience,
    });
    const shown = JSON.parse((await page.textContent("#out"))!.split("\n").slice(1).join("\n"));
    expect(shown.token_claims).toMatchObject({
      sub: "alice",
      iss: op.issuer,
      aud: op.audience,
      exp: payload.exp,
    });
    expect(shown.user).toEqual({ sub: "alice", email: "alice@example.test", name: "Alice Liddell" });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "token-exchange-logged-in.png"), fullPage: true });

    // A token jwt_authn cannot verify never reaches the upstream.
    const before = app.demo.requests.length;
    const [h, p] = call.token.split(".");
    const forged = `${h}.${p}.${Buffer.from("not the OP's signature").toString("base64url")}`;
    const bad = await pageFetch("/api/whoami", {
      headers: { authorization: `Bearer ${forged}`, "x-test-probe": "1" },
      credentials: "omit",
    });
    expect(bad.status).toBe(401);
    const none = await pageFetch("/api/whoami", { headers: { "x-test-probe": "1" }, credentials: "omit" });
    expect(none.status).toBe(401);
    expect(app.demo.requests.length).toBe(before);
  });

  it("the client renews the token before it expires, and reuses it until then", async () => {
    const first = issued.at(-1)!;
    const firstExp = Number(claims(first.token).exp);
    // The SPA keeps calling its API (bounded: two lifetimes at most).
    await waitFor(
      "a renewed access token",
      async () => {
        const answered = page.waitForResponse((r) => r.url() === `${app.origin}/api/whoami`);
        await page.click("#whoami");
        expect((await answered).status()).toBe(200);
        await Promise.all(pending);
        return issued.some((i) => i.token !== first.token);
      },
      2 * AT_TTL_S * 1000,
      1_000,
    );
    await Promise.all(pending);
    const renewed = issued.find((i) => i.token !== first.token)!;
    expect(renewed.at / 1000).toBeLessThan(firstExp); // before the old one expired
    expect(Number(claims(renewed.token).exp)).toBeGreaterThan(firstExp);
    expect(stack.op!.counts.refresh_token).toBeGreaterThanOrEqual(1);
    // Several API calls per /token call: the token is cached in between.
    expect(apiCalls.length).toBeGreaterThan(issued.length);
    // Every call went out with a token the client had been given and that had not expired.
    const given = new Set(issued.map((i) => i.token));
    for (const c of apiCalls) {
      expect(given.has(c.token)).toBe(true);
      expect(c.at / 1000).toBeLessThan(Number(claims(c.token).exp));
    }
    // The new token works at the API.
    expect(apiCalls.at(-1)!.token).toBe(issued.at(-1)!.token);
  });

  it("/token without the CSRF header is refused (403), with it the page gets a token", async () => {
    for (const method of ["POST", "GET"]) {
      const r = await pageFetch(`${app.authBase}/token`, { method });
      expect(r.status, method).toBe(403);
      expect(JSON.parse(r.body).error).toBe("csrf_header_required");
    }
    const ok = await pageFetch(`${app.authBase}/token`, {
      method: "POST",
      headers: { "x-sessiongate-csrf": "1" },
    });
    expect(ok.status).toBe(200);
    // The same from outside the browser without the cookie: no session.
    const anon = await hostRequest(
      stack.gatewayPort,
      `/auth/${app.id}/token`,
      { host: app.host, "x-sessiongate-csrf": "1" },
      { method: "POST" },
    );
    expect(anon.status).toBe(401);
  });

  it("invariant 1: no refresh token ever reaches the browser in tokenExchange mode", async () => {
    await Promise.all(pending);
    // Refreshes happened, so the OP rotated the refresh token at least once.
    expect(refreshTokens.length).toBeGreaterThanOrEqual(2);
    expect(idTokens.length).toBeGreaterThanOrEqual(1);
    const bodies = seen.filter((s) => s.body.length > 0);
    expect(
      bodies.filter((s) => s.url === `${app.authBase}/token` && s.status === 200).length,
    ).toBeGreaterThanOrEqual(2);
    expect(bodies.some((s) => s.url === `${app.authBase}/client.js`)).toBe(true);
    for (const s of bodies) {
      for (const rt of refreshTokens)
        expect(s.body.includes(rt), `${s.url} carries a refresh token`).toBe(false);
      for (const idt of idTokens) expect(s.body.includes(idt), `${s.url} carries an ID token`).toBe(false);
      if (s.url === `${app.authBase}/token`) expect(s.body).not.toMatch(/refresh_token|id_token/);
    }

    // The storage scan reads what it should: a canary planted in each place is found.
    const canary = "canary-7f3c2a";
    await page.evaluate(`(async () => {
      localStorage.setItem("c", "${canary}"); sessionStorage.setItem("c", "${canary}");
      document.cookie = "c=${canary}; path=/";
      await new Promise((ok) => { const r = indexedDB.open("scan-check"); r.onupgradeneeded = () =>
        r.result.createObjectStore("s").put("${canary}", 1); r.onsuccess = () => { r.result.close(); ok(); }; });
      await (await caches.open("scan-check")).put("/scan-check", new Response("${canary}"));
    })()`);
    const store = (await page.evaluate(READ_BROWSER_STORAGE)) as Record<string, string | string[]>;
    for (const [where, v] of Object.entries(store)) expect(String(v), where).toContain(canary);
    const held = JSON.stringify(store);
    for (const rt of refreshTokens)
      expect(held.includes(rt), "browser storage holds a refresh token").toBe(false);
    // The access tokens live in the client's memory only, never in storage or cookies.
    for (const i of issued)
      expect(held.includes(i.token), "browser storage holds an access token").toBe(false);
    // The session cookie is HttpOnly: not readable by the page either.
    const sid = (await ctx.cookies(app.origin)).find((c) => c.name === app.cookieName)?.value ?? "";
    expect(sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(String(store.cookie)).not.toContain(sid);
  });

  it("Log out: the SPA shows Log in and the client can no longer get a token", async () => {
    await page.click("#logout");
    await waitFor("back on the SPA after logout", async () => stack.op!.counts.end_session >= 1, 15_000);
    await page.waitForURL(app.url, { timeout: budget(15_000) });
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(10_000) });
    const r = await pageFetch(`${app.authBase}/token`, {
      method: "POST",
      headers: { "x-sessiongate-csrf": "1" },
    });
    expect(r.status).toBe(401);
    // The OP's end-session ended the grant (an online one is not revoked before it).
    expect(stack.op!.counts.grant_revoked).toBeGreaterThanOrEqual(1);
  });
});
