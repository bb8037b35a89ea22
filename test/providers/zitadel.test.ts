// The whole stack against a second real provider written in another language:
// the OP of github.com/zitadel/oidc (Go, OpenID-certified), built from the Go
// module proxy. Chromium logs in on its own login page; its RS256 access tokens
// are checked by jwt_authn with the JWKS URI from its discovery document.
// It issues refresh tokens only with offline_access (as Dex, Auth0, Okta and
// Entra ID do), so the BFF revokes the refresh token at logout before sending
// the browser to its end-session endpoint. It has no back-channel logout.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoStack, startDemoStack } from "../demo/stack.js";
import { pageFetch } from "../e2e/browser-steps.js";
import { startBrowser } from "../harness/browser.js";
import { stopAll } from "../harness/cleanup.js";
import { freePort, waitFor } from "../harness/ports.js";
import { budget } from "../harness/slowness.js";
import { startZitadelOp, type ZitadelOpHandle } from "../harness/zitadel.js";
import { lastAcceptedAfter, sessionCookie } from "./steps.js";

const CLIENT = { id: "sessiongate-web", secret: "zitadel-client-secret-0123456789ab" };
/** The example storage's access tokens live 5 min; with this skew a refresh is due 10 s after login. */
const AT_TTL_S = 300;
const REFRESH_SKEW_S = 290;
/** Each test waits on a provider, a browser and the gateway: generous on 2 busy cores. */
const TEST_TIMEOUT_MS = budget(180_000);

let op: ZitadelOpHandle;
let stack: DemoStack;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let loginAt: number;

beforeAll(async () => {
  const port = await freePort();
  const base = `http://localhost:${port}/auth/demo`;
  op = await startZitadelOp({
    clientId: CLIENT.id,
    clientSecret: CLIENT.secret,
    redirectUris: [`${base}/callback`],
    postLogoutRedirectUris: [`${base}/logout/callback`],
  });
  stack = await startDemoStack({
    port,
    cacheMaxTtlS: 5,
    bffRefreshSkewS: REFRESH_SKEW_S,
    idp: {
      issuer: op.issuer,
      clientId: CLIENT.id,
      clientSecret: CLIENT.secret,
      // Its JWT access tokens carry the client id as audience.
      audience: CLIENT.id,
      scopes: ["openid", "profile", "email", "offline_access"],
    },
  });
  browser = await startBrowser();
  ctx = await browser.newContext();
  page = await ctx.newPage();
}, 600_000);

afterAll(async () => {
  await stopAll(false);
}, 60_000);

const claims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString("utf8")) as Record<string, unknown>;
const lastApiCall = () => stack.demo.requests.filter((r) => r.path === "/api/whoami").at(-1);

describe("zitadel/oidc OP (Go)", () => {
  it(
    "login on the provider's page; the API gets its RS256 token, checked by jwt_authn with the discovered JWKS",
    async () => {
      await page.goto(stack.loginUrl);
      await page.waitForURL((u) => u.origin === op.issuer, { timeout: budget(30_000) });
      await page.fill("#username", op.user.username);
      await page.fill("#password", op.user.password);
      await page.click('button[type="submit"]');
      await page.waitForURL(stack.url, { timeout: budget(30_000) });
      loginAt = Date.now();
      await page.locator("#status", { hasText: "Logged in as" }).waitFor({ timeout: budget(20_000) });
      await page.click("#whoami");
      await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(20_000) });
      const jwt = String(lastApiCall()!.headers.authorization).replace(/^Bearer /, "");
      expect(JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8")).alg).toBe("RS256");
      const c = claims(jwt);
      expect(c.iss).toBe(op.issuer);
      expect([c.aud].flat()).toContain(CLIENT.id);
      expect(lastApiCall()!.headers["x-user-sub"]).toBe(op.user.sub);
      const dump = await (await fetch(`${stack.envoy.adminUrl}/config_dump`)).text();
      expect(dump).toContain(`${op.issuer}/keys`);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "refresh with rotation: 20 concurrent calls when the token is due make exactly one token request",
    async () => {
      const before = op.tokenRequests();
      const firstToken = lastApiCall()!.headers.authorization;
      const due = loginAt + (AT_TTL_S - REFRESH_SKEW_S) * 1000 + 500;
      await waitFor("the access token to be due for refresh", async () => Date.now() >= due, 60_000, 200);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => pageFetch(page, `${stack.origin}/api/whoami`)),
      );
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      await waitFor("the refresh at the provider", async () => op.tokenRequests() > before, 20_000, 100);
      expect(op.tokenRequests()).toBe(before + 1);
      expect(lastApiCall()!.headers.authorization).not.toBe(firstToken);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "RP-initiated logout: the refresh token is revoked, end-session runs, the cookie is refused",
    async () => {
      const cookie = await sessionCookie(stack, ctx);
      const revokesBefore = (op.process.log().match(/"path":"\/revoke"/g) ?? []).length;
      await page.click("#logout");
      const t0 = Date.now();
      await page.waitForURL(stack.url, { timeout: budget(30_000) });
      await page
        .locator("#status", { hasText: "You are not logged in." })
        .waitFor({ timeout: budget(20_000) });
      const log = op.process.log();
      expect((log.match(/"path":"\/revoke"/g) ?? []).length).toBe(revokesBefore + 1);
      expect(log).toMatch(/"path":"\/end_session"/);
      // The session is gone at once; a token the filter cached is served until max_ttl_s.
      const lastAcceptedMs = await lastAcceptedAfter(stack, cookie, t0);
      process.stdout.write(`zitadel: RP-initiated logout: last accepted ${lastAcceptedMs} ms after it\n`);
      expect(lastAcceptedMs).toBeLessThanOrEqual(stack.cacheMaxTtlS * 1000);
      expect(await sessionCookie(stack, ctx).catch((e: Error) => e.message)).toBe(
        "no session cookie in the browser",
      );
    },
    TEST_TIMEOUT_MS,
  );
});
