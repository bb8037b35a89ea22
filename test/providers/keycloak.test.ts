// The whole stack against a real Keycloak (from Maven Central, dev mode on
// loopback): Envoy configured by the xds-server, the BFF, Redis, and Chromium
// logging in on Keycloak's own login page. Keycloak's RS256 access tokens are
// checked by jwt_authn with the JWKS URI the xds-server took from Keycloak's
// discovery document (the app is registered without one). Every way Keycloak
// ends a session makes the gateway refuse the session cookie within the filter
// cache's max_ttl_s, measured here.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DemoApp, DemoStack } from "../demo/stack.js";
import { startDemoStack } from "../demo/stack.js";
import { pageFetch } from "../e2e/browser-steps.js";
import { startBrowser } from "../harness/browser.js";
import { stopAll } from "../harness/cleanup.js";
import { type KeycloakHandle, type Realm, startKeycloak } from "../harness/keycloak.js";
import { freePort, waitFor } from "../harness/ports.js";
import { budget } from "../harness/slowness.js";
import { apiWithCookie, lastAcceptedAfter, sessionCookie } from "./steps.js";

const REALM = "sessiongate";
const AUDIENCE = "https://api.sessiongate.test";
const USER = {
  username: "kate",
  password: "kate-password-1",
  email: "kate@example.test",
  firstName: "Kate",
  lastName: "Keycloak",
};
const SECRET = {
  online: "online-client-secret-0123456789abcdef",
  offline: "offline-client-secret-0123456789abcde",
};
/** The filter cache's bound (the xds-server's --cache-max-ttl-s): a logout reaches the edge within it. */
const CACHE_MAX_TTL_S = 5;
/** Keycloak's access-token lifespan; the BFF refreshes within 30 s (refresh_skew_s) of expiry. */
const AT_TTL_S = 45;
const REFRESH_SKEW_S = 30;
/** Each test waits on a provider, a browser and the gateway: generous on 2 busy cores. */
const TEST_TIMEOUT_MS = budget(180_000);

let kc: KeycloakHandle;
let realm: Realm;
let online: DemoStack;
let offline: DemoStack;
let browser: Browser;

const clientFor = (port: number, clientId: string, secret: string) => {
  const base = `http://localhost:${port}/auth/demo`;
  return {
    clientId,
    secret,
    redirectUris: [`${base}/callback`],
    postLogoutRedirectUris: [`${base}/logout/callback`],
    // Through the gateway, as a deployment would publish it: Keycloak on this machine reaches it.
    backchannelLogoutUrl: `${base}/backchannel-logout`,
    audience: AUDIENCE,
  };
};

beforeAll(async () => {
  kc = await startKeycloak();
  const [portA, portB] = [await freePort(), await freePort()];
  realm = await kc.admin.setup({
    realm: REALM,
    clients: [clientFor(portA, "sg-online", SECRET.online), clientFor(portB, "sg-offline", SECRET.offline)],
    user: USER,
    accessTokenLifespanS: AT_TTL_S,
  });
  const idp = (clientId: string, clientSecret: string, scopes: string[]) => ({
    issuer: realm.issuer,
    clientId,
    clientSecret,
    audience: AUDIENCE,
    scopes,
    // No jwksUri: the xds-server reads it from Keycloak's discovery document.
  });
  online = await startDemoStack({
    port: portA,
    cacheMaxTtlS: CACHE_MAX_TTL_S,
    idp: idp("sg-online", SECRET.online, ["openid", "profile", "email"]),
  });
  offline = await startDemoStack({
    port: portB,
    cacheMaxTtlS: CACHE_MAX_TTL_S,
    idp: idp("sg-offline", SECRET.offline, ["openid", "profile", "email", "offline_access"]),
    apps: [{ id: "demo", mode: "tokenExchange" }],
  });
  browser = await startBrowser();
}, 900_000);

afterAll(async () => {
  await stopAll(false);
}, 60_000);

/** Logs in on Keycloak's own page (or rides its SSO session) and lands on the SPA logged in. */
async function keycloakLogin(page: Page, app: DemoApp): Promise<number> {
  await page.goto(app.loginUrl);
  await page.waitForURL((u) => u.href === app.url || u.origin === kc.url, { timeout: budget(30_000) });
  if (new URL(page.url()).origin === kc.url) {
    await page.locator("#username").waitFor({ timeout: budget(30_000) });
    await page.fill("#username", USER.username);
    await page.fill("#password", USER.password);
    await page.click("#kc-login");
  }
  await page.waitForURL(app.url, { timeout: budget(30_000) });
  const at = Date.now();
  await page
    .locator("#status", { hasText: "Logged in as Kate Keycloak" })
    .waitFor({ timeout: budget(20_000) });
  return at;
}

async function loggedIn(stack: DemoStack): Promise<{ ctx: BrowserContext; page: Page; at: number }> {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const at = await keycloakLogin(page, stack.apps[0]);
  return { ctx, page, at };
}

const claims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
const header = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8")) as Record<string, unknown>;

const logoutErrors = () => (kc.log().match(/LOGOUT_ERROR[^\n]*/g) ?? []).join("\n");

describe("Keycloak (dev mode, realm set up over the admin REST API): bff mode", () => {
  let ctx: BrowserContext;
  let page: Page;
  let loginAt: number;

  it(
    "login on Keycloak's page; the API gets Keycloak's RS256 token, checked by jwt_authn with the discovered JWKS",
    async () => {
      ({ ctx, page, at: loginAt } = await loggedIn(online));
      await page.click("#whoami");
      await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(20_000) });
      const got = online.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
      const jwt = String(got.headers.authorization).replace(/^Bearer /, "");
      expect(header(jwt).alg).toBe("RS256");
      const c = claims(jwt);
      expect(c.iss).toBe(realm.issuer);
      expect([c.aud].flat()).toContain(AUDIENCE);
      expect(got.headers["x-user-sub"]).toBe(realm.userId);
      expect(got.headers.cookie ?? "").not.toContain(online.cookieName);
      // The app was registered without remote_jwks_uri: Envoy fetches the one discovery names.
      const dump = await (await fetch(`${online.envoy.adminUrl}/config_dump`)).text();
      expect(dump).toContain(`${realm.issuer}/protocol/openid-connect/certs`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refresh with rotation: 20 concurrent calls when the token is due make exactly one refresh grant",
    async () => {
      const before = (await kc.admin.events(REALM, "REFRESH_TOKEN")).length;
      const firstToken = online.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!
        .headers.authorization;
      // Due: within the BFF's refresh skew of expiry (and past the filter cache's bound).
      const due = loginAt + (AT_TTL_S - REFRESH_SKEW_S) * 1000 + 500;
      await waitFor("the access token to be due for refresh", async () => Date.now() >= due, 60_000, 200);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => pageFetch(page, `${online.origin}/api/whoami`)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      await waitFor(
        "Keycloak's REFRESH_TOKEN event",
        async () => (await kc.admin.events(REALM, "REFRESH_TOKEN")).length > before,
        20_000,
        200,
      );
      expect((await kc.admin.events(REALM, "REFRESH_TOKEN")).length).toBe(before + 1);
      expect(await kc.admin.events(REALM, "REFRESH_TOKEN_ERROR")).toEqual([]);
      const lastToken = online.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!
        .headers.authorization;
      expect(lastToken).not.toBe(firstToken);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "RP-initiated logout ends Keycloak's session and leaves no LOGOUT_ERROR in its log",
    async () => {
      expect((await kc.admin.userSessions(REALM, realm.userId)).length).toBe(1);
      const cookie = await sessionCookie(online, ctx);
      await page.click("#logout");
      const t0 = Date.now();
      await page.waitForURL(online.url, { timeout: budget(30_000) });
      await page
        .locator("#status", { hasText: "You are not logged in." })
        .waitFor({ timeout: budget(20_000) });
      await waitFor(
        "Keycloak's session to end",
        async () => (await kc.admin.userSessions(REALM, realm.userId)).length === 0,
        20_000,
        200,
      );
      expect((await kc.admin.events(REALM, "LOGOUT")).length).toBeGreaterThanOrEqual(1);
      expect(await kc.admin.events(REALM, "LOGOUT_ERROR")).toEqual([]);
      expect(logoutErrors()).toBe("");
      expect(await lastAcceptedAfter(online, cookie, t0)).toBeLessThanOrEqual(CACHE_MAX_TTL_S * 1000);
      await ctx.close();
    },
    TEST_TIMEOUT_MS,
  );
});

describe("Keycloak: logouts at the provider reach the gateway within max_ttl_s (back-channel logout)", () => {
  const ways: [string, (ctx: BrowserContext, page: Page) => Promise<void>][] = [
    [
      "the user logs out on Keycloak's own page",
      async (_ctx, page) => {
        await page.goto(`${realm.issuer}/protocol/openid-connect/logout`);
        await page.locator("#kc-logout").click({ timeout: budget(30_000) });
        await page
          .getByText("You are logged out")
          .first()
          .waitFor({ timeout: budget(30_000) });
      },
    ],
    ["an admin logs the user out", async () => void (await kc.admin.logoutUser(REALM, realm.userId))],
    [
      "an admin deletes the user's session",
      async () => {
        const sessions = await kc.admin.userSessions(REALM, realm.userId);
        expect(sessions).toHaveLength(1);
        await kc.admin.deleteSession(REALM, sessions[0].id);
      },
    ],
  ];

  it.each(ways)(
    "%s: the gateway refuses the cookie within max_ttl_s",
    async (_name, logoutAtKeycloak) => {
      const { ctx, page } = await loggedIn(online);
      // A cached token: the worst case, the filter serves it until max_ttl_s.
      const cookie = await sessionCookie(online, ctx);
      expect(await apiWithCookie(online, cookie)).toBe(200);
      await logoutAtKeycloak(ctx, page);
      const t0 = Date.now();
      const lastAcceptedMs = await lastAcceptedAfter(online, cookie, t0);
      process.stdout.write(`keycloak: ${_name}: last accepted ${lastAcceptedMs} ms after the logout\n`);
      expect(lastAcceptedMs).toBeLessThanOrEqual(CACHE_MAX_TTL_S * 1000);
      expect(await kc.admin.userSessions(REALM, realm.userId)).toEqual([]);
      expect(logoutErrors()).toBe("");
      await ctx.close();
    },
    TEST_TIMEOUT_MS,
  );
});

describe("Keycloak: tokenExchange mode with offline_access", () => {
  it(
    "documented limit: an admin's logout does not reach an offline session; the app's logout still revokes it",
    async () => {
      const app = offline.apps[0];
      const { ctx, page } = await loggedIn(offline);
      const clientUuid = realm.clientUuids["sg-offline"];
      expect(await kc.admin.offlineSessions(REALM, realm.userId, clientUuid)).toHaveLength(1);
      const token = () =>
        pageFetch(page, `${app.authBase}/token`, { method: "POST", headers: { "x-sessiongate-csrf": "1" } });
      await kc.admin.logoutUser(REALM, realm.userId);
      await waitFor(
        "Keycloak's online session to end",
        async () => (await kc.admin.userSessions(REALM, realm.userId)).length === 0,
        20_000,
        200,
      );
      // Observed over twice the cache bound: a back-channel logout would have ended it by then.
      const until = Date.now() + 2 * CACHE_MAX_TTL_S * 1000;
      while (Date.now() < until) {
        expect((await token()).status).toBe(200);
        await page.waitForTimeout(500);
      }
      expect(await kc.admin.offlineSessions(REALM, realm.userId, clientUuid)).toHaveLength(1);
      await page.click("#logout");
      await page.waitForURL(offline.url, { timeout: budget(30_000) });
      await waitFor(
        "the offline session to be revoked",
        async () => (await kc.admin.offlineSessions(REALM, realm.userId, clientUuid)).length === 0,
        20_000,
        200,
      );
      expect((await token()).status).toBe(401);
      await ctx.close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "the SPA calls the API with Keycloak's token; logout revokes the offline token and ends the session",
    async () => {
      const app = offline.apps[0];
      const { ctx, page } = await loggedIn(offline);
      await page.click("#whoami");
      await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(20_000) });
      const got = offline.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
      const c = claims(String(got.headers.authorization).replace(/^Bearer /, ""));
      expect(c.iss).toBe(realm.issuer);
      expect(String(c.scope).split(" ")).toContain("offline_access");
      // The page holds the access token, never a refresh token.
      const token = await pageFetch(page, `${app.authBase}/token`, {
        method: "POST",
        headers: { "x-sessiongate-csrf": "1" },
      });
      expect(token.status).toBe(200);
      expect(Object.keys(JSON.parse(token.body)).sort()).not.toContain("refresh_token");
      const clientUuid = realm.clientUuids["sg-offline"];
      expect(await kc.admin.offlineSessions(REALM, realm.userId, clientUuid)).toHaveLength(1);

      await page.click("#logout");
      await page.waitForURL(offline.url, { timeout: budget(30_000) });
      await page
        .locator("#status", { hasText: "You are not logged in." })
        .waitFor({ timeout: budget(20_000) });
      // The offline session outlives Keycloak's logout: only the BFF's revocation ends it.
      await waitFor(
        "the offline session to be revoked",
        async () => (await kc.admin.offlineSessions(REALM, realm.userId, clientUuid)).length === 0,
        20_000,
        200,
      );
      expect(await kc.admin.userSessions(REALM, realm.userId)).toEqual([]);
      // Not asserted: Keycloak's revocation of an offline token ends the online
      // session too, so the end-session after it logs LOGOUT_ERROR session_expired.
      // The offline token is still revoked first: left alone it would outlive the
      // logout by Keycloak's offline idle timeout (30 days). See bff/README.md.
      await ctx.close();
    },
    TEST_TIMEOUT_MS,
  );
});
