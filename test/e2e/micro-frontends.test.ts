// Two apps on one gateway (micro-frontends), each on its own host
// (a.localhost, b.localhost) with its own OP client, session cookie, BFF app
// and upstream, in one Chromium: a session for A opens nothing of B; B's
// login gives a second, independent session; A's logout leaves B working.
import { Redis } from "ioredis";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { browserLogin, pageFetch, sessionCookie, viaGateway } from "./browser-steps.js";

const CACHE_TTL_S = 2;

let stack: DemoStack;
let browser: Browser;
let ctx: BrowserContext;
let redis: Redis;
let A: DemoApp;
let B: DemoApp;

/** The payload of a JWT, or of a `Bearer <JWT>` header. */
const jwtClaims = (jwt: unknown) =>
  JSON.parse(Buffer.from(String(jwt).split(".")[1], "base64url").toString("utf8"));

async function sessionKeys(): Promise<string[]> {
  return (await redis.keys("sg:s:{*}")).filter((k) => !k.endsWith(":lock")).sort();
}

beforeAll(async () => {
  stack = await startDemoStack({
    port: await freePort(),
    cacheMaxTtlS: CACHE_TTL_S,
    idp: null,
    apps: [{ id: "a" }, { id: "b" }],
  });
  A = stack.app("a");
  B = stack.app("b");
  redis = new Redis(stack.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  browser = await startBrowser();
  ctx = await browser.newContext();
}, budget(120_000));

afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

describe("two apps on one gateway, one browser", () => {
  let pageA: Page;
  let pageB: Page;
  let sidA = "";
  let sidB = "";
  let endSessionUrl = "";

  it("each app has its own host, OP client and cookie", () => {
    expect(A.host).toBe(`a.localhost:${stack.gatewayPort}`);
    expect(B.host).toBe(`b.localhost:${stack.gatewayPort}`);
    expect([A.clientId, B.clientId]).toEqual(["sessiongate-a", "sessiongate-b"]);
    expect([A.cookieName, B.cookieName]).toEqual(["__Host-sg-a", "__Host-sg-b"]);
    expect(A.demo.port).not.toBe(B.demo.port);
  });

  it("logging in to A opens A only: B's API is 401 and B's session endpoint says no_session", async () => {
    pageA = await ctx.newPage();
    await browserLogin(pageA, stack, A);
    sidA = (await sessionCookie(ctx, A)) ?? "";
    expect(sidA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessionCookie(ctx, B)).toBeUndefined();
    expect((await ctx.cookies(B.origin)).map((c) => c.name)).not.toContain(A.cookieName);
    expect(stack.op!.counts.authorization_code).toBe(1);

    const a = await pageFetch(pageA, "/api/whoami");
    expect(a.status).toBe(200);
    expect(JSON.parse(a.body).user.sub).toBe("alice");

    // B, in the same browser: its SPA shell (public) shows Log in; its API
    // and session endpoint see no session.
    pageB = await ctx.newPage();
    await pageB.goto(B.url);
    await pageB
      .locator("#status", { hasText: "You are not logged in." })
      .waitFor({ timeout: budget(10_000) });
    const api = await pageB.goto(`${B.origin}/api/whoami`);
    expect(api?.status()).toBe(401);
    const session = await pageB.goto(`${B.authBase}/session`);
    expect(session?.status()).toBe(401);
    expect(JSON.parse((await session?.text()) ?? "{}").error).toBe("no_session");
    expect(B.demo.requests.filter((r) => r.path.startsWith("/api/"))).toHaveLength(0);
    await pageB.goto(B.url);
    expect(await sessionKeys()).toHaveLength(1);
  });

  it("logging in to B gives a second, independent session with B's own OP client", async () => {
    // The OP remembers alice (single sign-on): B's login may skip the form.
    await browserLogin(pageB, stack, B);
    sidB = (await sessionCookie(ctx, B)) ?? "";
    expect(sidB).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(sidB).not.toBe(sidA);
    expect(await sessionCookie(ctx, A)).toBe(sidA);
    expect(await sessionKeys()).toHaveLength(2);
    expect(stack.op!.counts.authorization_code).toBe(2);

    const b = await pageFetch(pageB, "/api/whoami");
    expect(b.status).toBe(200);
    const a = await pageFetch(pageA, "/api/whoami");
    expect(a.status).toBe(200);
    // Each upstream got a token issued to its own app's client, and no session cookie.
    const lastA = A.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    const lastB = B.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
    expect(jwtClaims(lastA.headers.authorization).client_id).toBe(A.clientId);
    expect(jwtClaims(lastB.headers.authorization).client_id).toBe(B.clientId);
    for (const r of [...A.demo.requests, ...B.demo.requests]) {
      expect(r.headers.cookie ?? "").not.toContain("__Host-sg-");
    }
  });

  it("a cookie of one app presented to the other gets no session there", async () => {
    const asB = await viaGateway(stack, B, "/api/whoami", { cookie: `${B.cookieName}=${sidA}` });
    expect(asB.status).toBe(401);
    const asA = await viaGateway(stack, A, `/auth/${A.id}/session`, { cookie: `${A.cookieName}=${sidB}` });
    expect(asA.status).toBe(401);
    // Neither replay ended the real sessions.
    expect((await pageFetch(pageA, "/api/whoami")).status).toBe(200);
    expect((await pageFetch(pageB, "/api/whoami")).status).toBe(200);
  });

  it("logging out of A (at the BFF) leaves B working", async () => {
    // Hold the OP's sign-out confirmation: the OP's single logout would
    // (rightly) end every app of alice's OP session; this step is about A's
    // own logout. (Playwright routes do not see redirects, so the GET of the
    // end-session page passes and its auto-submitted confirmation is held.)
    let held = false;
    const atEndSession = (u: URL) => u.origin === stack.op!.issuer && u.pathname.startsWith("/session/end");
    await ctx.route(atEndSession, (route) => {
      held = true;
      return route.fulfill({ status: 200, contentType: "text/html", body: "<p>held by the test</p>" });
    });
    const logoutReply = pageA.waitForResponse((r) => r.url() === `${A.authBase}/logout`);
    const endSessions = stack.op!.counts.end_session;
    await pageA.click("#logout");
    const location = (await logoutReply).headers().location ?? "";
    endSessionUrl = location;
    await waitFor("the OP's sign-out confirmation", async () => held, 15_000);
    await ctx.unroute(atEndSession);
    expect(stack.op!.counts.end_session).toBe(endSessions);
    // RP-initiated logout for A's client: the ID token hint was issued to A.
    expect(location.startsWith(`${stack.op!.issuer}/session/end`)).toBe(true);
    expect(jwtClaims(new URL(location).searchParams.get("id_token_hint")).aud).toBe(A.clientId);

    expect(await sessionCookie(ctx, A)).toBeUndefined();
    expect(await sessionCookie(ctx, B)).toBe(sidB);
    expect(await sessionKeys()).toHaveLength(1);
    const bAfter = await pageFetch(pageB, "/api/whoami");
    expect(bAfter.status).toBe(200);
    expect(JSON.parse(bAfter.body).user.sub).toBe("alice");
    expect(JSON.parse((await pageFetch(pageB, `${B.authBase}/session`)).body).app).toBe("b");
    // A is closed at the BFF at once and, for A's old cookie, at the edge within the cache bound.
    const replay = { cookie: `${A.cookieName}=${sidA}` };
    expect((await viaGateway(stack, A, `/auth/${A.id}/session`, replay)).status).toBe(401);
    await waitFor(
      "the edge to refuse A's old cookie",
      async () => (await viaGateway(stack, A, "/api/whoami", replay)).status === 401,
      (CACHE_TTL_S + 5) * 1000,
      200,
    );
    // B still works after A's cached token has expired at the edge.
    expect((await pageFetch(pageB, "/api/whoami")).status).toBe(200);
  });

  it("signing out at the OP (single logout) then ends B as well, by back-channel logout", async () => {
    const before = stack.op!.counts.backchannel_logout;
    await pageA.goto(endSessionUrl);
    await waitFor(
      "the OP's back-channel logouts",
      async () => stack.op!.counts.backchannel_logout > before,
      10_000,
    );
    expect(await sessionKeys()).toHaveLength(0);
    expect((await pageFetch(pageB, `${B.authBase}/session`)).status).toBe(401);
    await waitFor(
      "the edge to refuse B's session",
      async () => (await pageFetch(pageB, "/api/whoami")).status === 401,
      (CACHE_TTL_S + 5) * 1000,
      200,
    );
  });
});
