// The demo stack end to end in Debian's Chromium: the public SPA shell loads
// and imports the BFF's browser client, Log in goes to the OP and back, the
// SPA's API call reaches the upstream with an OP-signed JWT for alice and no
// session cookie, Log out ends the session at the BFF/Redis, the edge and the
// OP and returns to the SPA; and no response the page read carries a token or
// the session id (invariant 1, from the browser's side).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { Browser, BrowserContext, Page, Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, type HostReply, hostRequest, REPO_ROOT, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";

const ARTIFACTS = join(REPO_ROOT, "test/.artifacts");
const CACHE_TTL_S = 2;

let stack: DemoStack;
let browser: Browser;
let ctx: BrowserContext;
let redis: Redis;
const seen: { url: string; status: number; body: string }[] = [];
const pending: Promise<void>[] = [];
const opSecrets: string[] = []; // refresh / ID tokens the OP handed to the BFF

function record(res: Response): void {
  // A body can stay unreadable forever (a navigation superseded mid-flight):
  // bound each read so the scan below cannot hang.
  const timeout = new Promise<void>((r) => setTimeout(r, 5_000).unref());
  const read = res
    .text()
    .then((body) => void seen.push({ url: res.url(), status: res.status(), body }))
    .catch(() => {}); // redirects have no readable body
  pending.push(Promise.race([read, timeout]));
}

/** GET through the gateway with an explicit cookie (as a stolen cookie would be replayed). */
function gatewayGet(path: string, cookie?: string): Promise<HostReply> {
  const headers: Record<string, string> = { host: `localhost:${stack.gatewayPort}` };
  if (cookie) headers.cookie = cookie;
  return hostRequest(stack.gatewayPort, path, headers);
}

async function sessionKeys(): Promise<number> {
  const keys = await redis.keys("sg:s:{*}");
  return keys.filter((k) => !k.endsWith(":lock")).length;
}

beforeAll(async () => {
  stack = await startDemoStack({ port: await freePort(), cacheMaxTtlS: CACHE_TTL_S, idp: null });
  stack.op!.provider.on("grant.success", (c) => {
    const body = c.body as { refresh_token?: string; id_token?: string } | undefined;
    if (body?.refresh_token) opSecrets.push(body.refresh_token);
    if (body?.id_token) opSecrets.push(body.id_token);
  });
  redis = new Redis(stack.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  browser = await startBrowser();
  ctx = await browser.newContext();
}, budget(120_000));

afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

describe("npm run demo stack in Chromium (bff mode)", () => {
  let page: Page;
  let sessionId = "";
  let accessToken = "";
  const pageErrors: string[] = [];
  const navigations: string[] = [];

  it("without a session the SPA shell loads (public paths, no cookie upstream) and shows Log in; the API needs a JWT", async () => {
    page = await ctx.newPage();
    page.on("response", record);
    page.on("pageerror", (e) => pageErrors.push(e.message));
    // Script errors and CSP refusals; HTTP errors (the 401 of a session check) are expected.
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) pageErrors.push(m.text());
    });
    page.on("framenavigated", (f) => void (f === page.mainFrame() && navigations.push(f.url())));
    const res = await page.goto(stack.url);
    expect(res?.status()).toBe(200);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(10_000) });
    expect(await page.isVisible("#login")).toBe(true);
    expect(await page.isVisible("#logout")).toBe(false);
    expect(await page.textContent("#mode")).toContain("bff mode");
    // The shell came from the upstream; the client from the BFF, through the gateway.
    const paths = stack.demo.requests.map((r) => r.path);
    expect(paths).toEqual(expect.arrayContaining(["/", "/static/app.js"]));
    expect(
      seen.some((s) => s.url === `${stack.origin}/auth/${stack.appId}/client.js` && s.status === 200),
    ).toBe(true);
    expect((await gatewayGet("/api/whoami")).status).toBe(401);
    expect(stack.demo.requests.some((r) => r.path === "/api/whoami")).toBe(false);
  });

  it("Log in goes to the OP and back to the SPA, logged in, with no script error (CSP, import map)", async () => {
    await page.click("#login");
    await page.waitForURL((u) => u.origin === stack.op!.issuer && u.pathname.startsWith("/interaction/"));
    await page.fill('input[name="username"]', "alice");
    await page.fill('input[name="password"]', "wonderland");
    await page.click('button[type="submit"]');
    await page.waitForURL(stack.url, { timeout: budget(15_000) });
    await page.locator("#status", { hasText: "Logged in as" }).waitFor({ timeout: budget(10_000) });
    expect(await page.textContent("#status")).toBe("Logged in as Alice Liddell (alice)");
    expect(await page.isVisible("#logout")).toBe(true);
    const cookie = (await ctx.cookies(stack.origin)).find((c) => c.name === stack.cookieName);
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");
    expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    sessionId = cookie!.value;
    expect(await sessionKeys()).toBe(1);
    expect(pageErrors, pageErrors.join("\n")).toEqual([]);
  });

  it("the SPA shows its API's answer: alice's claims from an OP-signed JWT; no session cookie upstream", async () => {
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    await page.click("#whoami");
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
    const shown = JSON.parse((await page.textContent("#out"))!.split("\n").slice(1).join("\n"));
    const op = stack.op!;
    expect(shown.user).toEqual({ sub: "alice", email: "alice@example.test", name: "Alice Liddell" });
    expect(shown.token_claims).toMatchObject({ sub: "alice", iss: op.issuer, aud: op.audience });
    expect(shown.cookie_header).toBeNull();
    const got = stack.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(got.headers["x-user-sub"]).toBe("alice");
    expect(got.headers["x-user-email"]).toBe("alice@example.test");
    accessToken = String(got.headers.authorization).replace(/^Bearer /, "");
    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(op.jwksUri)), {
      issuer: op.issuer,
      audience: op.audience,
    });
    expect(payload.sub).toBe("alice");
    // No request of the SPA's (shell, assets, API) reached the upstream with the session cookie.
    expect(stack.demo.requests.length).toBeGreaterThanOrEqual(4);
    for (const r of stack.demo.requests) {
      expect(r.headers.cookie ?? "").not.toContain(stack.cookieName);
      expect(r.headers.cookie ?? "").not.toContain(sessionId);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "demo-logged-in.png"), fullPage: true });
  });

  it("Log out ends the session in Redis, at the edge and at the OP, and returns to the SPA showing Log in", async () => {
    // A second tab keeps the SPA open through the logout of the first.
    const other = await ctx.newPage();
    other.on("response", record);
    await other.goto(stack.url);
    await other.locator("#status", { hasText: "Logged in as" }).waitFor();
    const endSessions = stack.op!.counts.end_session;
    const navsBefore = navigations.length;
    await page.click("#logout");
    // RP-initiated logout at the OP, then the logout callback lands on the SPA.
    await waitFor(
      "the OP's end-session and the way back to the SPA",
      async () => {
        const after = navigations.slice(navsBefore);
        return after.some((u) => u.startsWith(stack.op!.issuer)) && after.at(-1) === stack.url;
      },
      15_000,
      50,
    );
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(10_000) });
    expect(await page.isVisible("#login")).toBe(true);
    expect(stack.op!.counts.end_session).toBe(endSessions + 1);
    expect((await ctx.cookies(stack.origin)).find((c) => c.name === stack.cookieName)).toBeUndefined();
    expect(await sessionKeys()).toBe(0);

    await other.evaluate("window.demo.render()");
    await other.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(5_000) });
    expect(await other.isVisible("#login")).toBe(true);
    expect(await other.isVisible("#whoami")).toBe(false);

    // The old cookie replayed: no session at the BFF, and the edge stops
    // accepting it once its token cache (max_ttl_s) has passed.
    const replay = `${stack.cookieName}=${sessionId}`;
    expect((await gatewayGet(`/auth/${stack.appId}/session`, replay)).status).toBe(401);
    await waitFor(
      "the edge refuses the old cookie",
      async () => (await gatewayGet("/api/whoami", replay)).status === 401,
      (CACHE_TTL_S + 5) * 1000,
      200,
    );
    // The public shell still answers, and its upstream never sees the cookie.
    expect((await gatewayGet("/", replay)).status).toBe(200);
    const last = stack.demo.requests.filter((r) => r.path === "/").at(-1)!;
    expect(last.headers.cookie).toBeUndefined();
  });

  it("invariant 1: no response the page read carries a token or the session id", async () => {
    await Promise.all(pending);
    expect(accessToken).toMatch(/^eyJ/);
    expect(opSecrets.length).toBeGreaterThanOrEqual(2);
    const secrets = [accessToken, accessToken.split(".")[2], sessionId, ...opSecrets];
    const readable = seen.filter((s) => s.body.length > 0);
    // Page, session, whoami, OP pages: the scan really covered the gateway's answers.
    expect(readable.some((s) => s.url.endsWith(`/auth/${stack.appId}/session`) && s.status === 200)).toBe(
      true,
    );
    expect(readable.some((s) => s.url.endsWith("/api/whoami") && s.status === 200)).toBe(true);
    for (const s of readable) {
      for (const secret of secrets) expect(s.body.includes(secret), `${s.url} leaks a secret`).toBe(false);
      if (s.url.startsWith(stack.origin)) {
        expect(s.body, `${s.url} carries a JWT`).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
      }
    }
  });
});
