// The whole stack against Dex (Go), built from the Go module proxy: Chromium
// logs in on Dex's own login page (static password user), Dex's RS256 access
// tokens are checked by jwt_authn with the JWKS URI from its discovery
// document, and a refresh is single-flight. Dex issues refresh tokens only with
// offline_access and has neither an end-session, a revocation endpoint nor
// back-channel logout: an app's logout ends the BFF session (the gateway
// refuses the cookie within max_ttl_s) but not Dex's refresh token.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoStack, startDemoStack } from "../demo/stack.js";
import { pageFetch } from "../e2e/browser-steps.js";
import { startBrowser } from "../harness/browser.js";
import { stopAll } from "../harness/cleanup.js";
import { type DexHandle, startDex } from "../harness/dex.js";
import { freePort, waitFor } from "../harness/ports.js";
import { budget } from "../harness/slowness.js";
import { lastAcceptedAfter, sessionCookie } from "./steps.js";

const CLIENT = { id: "sessiongate-web", secret: "dex-client-secret-0123456789abcdef" };
/** Dex's token lifetime here; the BFF refreshes within 30 s (refresh_skew_s) of expiry. */
const AT_TTL_S = 45;
const REFRESH_SKEW_S = 30;
const TEST_TIMEOUT_MS = budget(180_000);

let dex: DexHandle;
let stack: DemoStack;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let loginAt: number;

beforeAll(async () => {
  const port = await freePort();
  dex = await startDex({
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    redirectUris: [`http://localhost:${port}/auth/demo/callback`],
    tokenTtlS: AT_TTL_S,
  });
  stack = await startDemoStack({
    port,
    cacheMaxTtlS: 5,
    idp: {
      issuer: dex.issuer,
      clientId: CLIENT.id,
      clientSecret: CLIENT.secret,
      audience: CLIENT.id,
      // No refresh token from Dex without offline_access.
      scopes: ["openid", "profile", "email", "offline_access"],
    },
  });
  browser = await startBrowser();
  ctx = await browser.newContext();
  page = await ctx.newPage();
}, 900_000);

afterAll(async () => {
  await stopAll(false);
}, 60_000);

const lastApiCall = () => stack.demo.requests.filter((r) => r.path === "/api/whoami").at(-1);

describe("Dex (Go), built from the Go module proxy", () => {
  it(
    "login on Dex's page; the API gets its RS256 token, checked by jwt_authn with the discovered JWKS",
    async () => {
      await page.goto(stack.loginUrl);
      await page.waitForURL((u) => u.origin === new URL(dex.issuer).origin, { timeout: budget(30_000) });
      await page.fill("#login", dex.user.username);
      await page.fill("#password", dex.user.password);
      await page.click("#submit-login");
      await page.waitForURL(stack.url, { timeout: budget(30_000) });
      loginAt = Date.now();
      await page.locator("#status", { hasText: "Logged in as" }).waitFor({ timeout: budget(20_000) });
      await page.click("#whoami");
      await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(20_000) });
      const jwt = String(lastApiCall()!.headers.authorization).replace(/^Bearer /, "");
      expect(JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8")).alg).toBe("RS256");
      const c = JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8"));
      expect(c.iss).toBe(dex.issuer);
      expect([c.aud].flat()).toContain(CLIENT.id);
      expect(c.email).toBe(dex.user.email);
      const dump = await (await fetch(`${stack.envoy.adminUrl}/config_dump`)).text();
      expect(dump).toContain(`${dex.issuer}/keys`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refresh: 20 concurrent calls when the token is due make exactly one token request",
    async () => {
      const before = await dex.tokenRequests();
      const firstToken = lastApiCall()!.headers.authorization;
      const due = loginAt + (AT_TTL_S - REFRESH_SKEW_S) * 1000 + 500;
      await waitFor("the access token to be due for refresh", async () => Date.now() >= due, 60_000, 200);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => pageFetch(page, `${stack.origin}/api/whoami`)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      await waitFor("the refresh at Dex", async () => (await dex.tokenRequests()) > before, 20_000, 100);
      expect(await dex.tokenRequests()).toBe(before + 1);
      expect(lastApiCall()!.headers.authorization).not.toBe(firstToken);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "logout (Dex has no end-session): the session ends at the BFF and the cookie is refused within max_ttl_s",
    async () => {
      const cookie = await sessionCookie(stack, ctx);
      await page.click("#logout");
      const t0 = Date.now();
      await page.waitForURL(stack.url, { timeout: budget(30_000) });
      await page
        .locator("#status", { hasText: "You are not logged in." })
        .waitFor({ timeout: budget(20_000) });
      const lastAcceptedMs = await lastAcceptedAfter(stack, cookie, t0);
      process.stdout.write(`dex: logout: last accepted ${lastAcceptedMs} ms after it\n`);
      expect(lastAcceptedMs).toBeLessThanOrEqual(stack.cacheMaxTtlS * 1000);
      // Nothing at Dex was called: it offers no end-session or revocation endpoint.
      const disco = (await (await fetch(`${dex.issuer}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      expect(disco.end_session_endpoint).toBeUndefined();
      expect(disco.revocation_endpoint).toBeUndefined();
    },
    TEST_TIMEOUT_MS,
  );
});
