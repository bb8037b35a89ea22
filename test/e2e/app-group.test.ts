// An app group (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps)
// through the whole stack: ten micro-frontends of group "shop" on one host,
// each under its own path with its own session cookie, upstream and API
// audience, registered as ONE client with ONE redirect URI at the OP. One
// Envoy (over ADS), the BFF, Redis, the OP and one Chromium.
//   - a login to one app signs the other nine in silently (prompt=none): the
//     OP's login form is filled in once;
//   - each app's token is refused by every other app's API (audience);
//   - invariants 1, 5, 6 and 7 for every app of the group;
//   - a sign-out of one ends all ten (Redis, then the edge within the cache
//     bound), and the OP's back-channel logout for the group's sid does too;
//   - the group callback and login state refuse bad input and change nothing.
import { Redis } from "ioredis";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, startBrowser, waitFor } from "../harness/index.js";
import { OpBrowser } from "../harness/op-browser.js";
import { budget } from "../harness/slowness.js";
import { type AttackerSite, startAttackerSite } from "./attacker-site.js";
import { ALICE, browserLogin, pageFetch, ResponseLog, sessionCookie, viaGateway } from "./browser-steps.js";

const CACHE_TTL_S = 2;
const GROUP = "shop";
const N = 10;
const GROUP_COOKIE = `__Host-sg-_g-${GROUP}`;
const GROUP_BASE = `/auth/_group/${GROUP}`;

let stack: DemoStack;
let apps: DemoApp[];
let solo: DemoApp;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let redis: Redis;
let attacker: AttackerSite;
const responses = new ResponseLog();
const opTokens: string[] = [];

const jwtClaims = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.replace(/^Bearer /, "").split(".")[1], "base64url").toString("utf8"));

async function sessionCount(): Promise<number> {
  return (await redis.keys("sg:s:{*}")).filter((k) => /^sg:s:\{[^}]+\}$/.test(k)).length;
}

/** The last token the app's upstream received, from its own API calls. */
function lastToken(app: DemoApp): string {
  const r = app.demo.requests.filter((q) => q.path.startsWith(`${app.pathPrefix}/api/`)).at(-1);
  return String(r?.headers.authorization ?? "");
}

async function showsLoggedIn(p: Page): Promise<void> {
  await p.locator("#status", { hasText: "Logged in as" }).waitFor({ timeout: budget(15_000) });
}

beforeAll(async () => {
  const host = `${GROUP}.localhost`;
  stack = await startDemoStack({
    port: await freePort(),
    cacheMaxTtlS: CACHE_TTL_S,
    idp: null,
    apps: [
      ...Array.from({ length: N }, (_, i) => ({
        id: `mfe${i}`,
        group: GROUP,
        host,
        pathPrefix: `/mfe${i}`,
        publicPaths: [`/mfe${i}/`, `/mfe${i}/index.html`, `/mfe${i}/static/*`],
        audience: `https://api.sessiongate.test/mfe${i}`,
      })),
      // Not in the group, on the same host: its own client and redirect URI.
      { id: "solo", host, pathPrefix: "/solo", publicPaths: ["/solo/", "/solo/static/*"] },
    ],
  });
  apps = stack.apps.filter((a) => a.group === GROUP);
  solo = stack.app("solo");
  stack.op!.provider.on("grant.success", (c) => {
    const body = c.body as Record<string, unknown> | undefined;
    for (const k of ["access_token", "refresh_token", "id_token"])
      if (typeof body?.[k] === "string") opTokens.push(body[k] as string);
  });
  redis = new Redis(stack.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  attacker = await startAttackerSite();
  browser = await startBrowser();
  ctx = await browser.newContext();
  responses.watch(ctx);
  page = await ctx.newPage();
}, budget(180_000));

afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

describe("an app group: ten micro-frontends, one provider client", () => {
  it("the ten apps are one client at the OP with one redirect URI; the app outside the group has its own", async () => {
    expect(apps).toHaveLength(N);
    expect(new Set(apps.map((a) => a.clientId))).toEqual(new Set([`sessiongate-${GROUP}`]));
    expect(new Set(apps.map((a) => a.cookieName)).size).toBe(N);
    const client = await stack.op!.provider.Client.find(`sessiongate-${GROUP}`);
    expect(client?.redirectUris).toEqual([`${apps[0].origin}${GROUP_BASE}/callback`]);
    expect(client?.postLogoutRedirectUris).toEqual([`${apps[0].origin}${GROUP_BASE}/logout/callback`]);
    expect(solo.clientId).toBe("sessiongate-solo");
  });

  it("a login to one app gives the other nine their sessions without another credential prompt", async () => {
    const op = stack.op!;
    // Before any sign-in, an app of the group shows the logged-out shell: no silent attempt.
    await page.goto(apps[1].url);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(15_000) });
    expect(op.counts.authorization_code).toBe(0);

    await browserLogin(page, stack, apps[0]);
    expect(op.counts.login_form).toBe(1);
    expect(await sessionCount()).toBe(1);
    expect((await ctx.cookies(apps[0].origin)).map((c) => c.name)).toContain(GROUP_COOKIE);

    for (const app of apps.slice(1)) {
      await page.goto(app.url);
      // The shell finds no session, the BFF advises a silent sign-in, the page
      // goes through the OP (prompt=none) and comes back signed in.
      await page.waitForURL(app.url, { timeout: budget(15_000) });
      await showsLoggedIn(page);
    }
    expect(op.counts.login_form).toBe(1);
    expect(op.counts.authorization_code).toBe(N);
    expect(await sessionCount()).toBe(N);
    const ids = await Promise.all(apps.map((a) => sessionCookie(ctx, a)));
    expect(new Set(ids).size).toBe(N);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The app outside the group got nothing from the group's sign-in.
    expect(await sessionCookie(ctx, solo)).toBeUndefined();
  });

  it("invariant 4: a new login to an app of the group rotates its session id and ends the old session, the others untouched", async () => {
    const op = stack.op!;
    const before = await Promise.all(apps.map((a) => sessionCookie(ctx, a)));
    await browserLogin(page, stack, apps[0]).catch((err: Error) => {
      const last = responses.seen.slice(-30).map((r) => `${r.status} ${r.url}`);
      throw new Error(`${err.message}\nlast responses:\n${last.join("\n")}`);
    });
    expect(op.counts.login_form).toBe(1); // the OP's session: no form
    const after = await Promise.all(apps.map((a) => sessionCookie(ctx, a)));
    expect(after[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(after[0]).not.toBe(before[0]);
    expect(after.slice(1)).toEqual(before.slice(1));
    expect(await sessionCount()).toBe(N);
    const old = await viaGateway(stack, apps[0], `${apps[0].pathPrefix}/auth/${apps[0].id}/session`, {
      cookie: `${apps[0].cookieName}=${before[0]}`,
    });
    expect(old.status).toBe(401);
    await page.goto(solo.url);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(15_000) });
  });

  it("each app's API got a token for its own audience only, and every other app's API refuses it", async () => {
    for (const app of apps) {
      const token = lastToken(app);
      expect(jwtClaims(token).aud).toBe(app.audience);
      expect(jwtClaims(token).client_id).toBe(`sessiongate-${GROUP}`);
    }
    for (const [i, app] of apps.entries()) {
      const other = apps[(i + 1) % N];
      const token = lastToken(app);
      const own = await viaGateway(stack, app, `${app.pathPrefix}/api/whoami`, { authorization: token });
      expect(own.status).toBe(200);
      const foreign = await viaGateway(stack, other, `${other.pathPrefix}/api/whoami`, {
        authorization: token,
      });
      expect(foreign.status).toBe(403);
      expect(foreign.body).toContain("Audiences in Jwt are not allowed");
    }
  });

  it("invariant 6: no app's session cookie, nor the group's cookies, reach any app's upstream", async () => {
    // The browser holds all eleven cookies of the host and sends them everywhere.
    const names = (await ctx.cookies(apps[0].origin)).map((c) => c.name);
    expect(names.filter((n) => n.startsWith("__Host-sg-")).length).toBeGreaterThanOrEqual(N + 1);
    await ctx.addCookies([{ name: "theme", value: "dark", url: apps[0].origin, sameSite: "Lax" }]);
    for (const app of [...apps, solo]) {
      await page.goto(app.url);
      expect((await pageFetch(page, `${app.pathPrefix}/api/whoami`)).status).toBe(app === solo ? 401 : 200);
    }
    for (const app of [...apps, solo]) {
      expect(app.demo.requests.length).toBeGreaterThan(0);
      for (const r of app.demo.requests) {
        expect(String(r.headers.cookie ?? "")).not.toMatch(/__host-sg-/i);
        expect(r.path.startsWith(app.pathPrefix)).toBe(true);
      }
    }
    const api = apps[0].demo.requests.filter((r) => r.path.includes("/api/"));
    expect(api.some((r) => String(r.headers.cookie ?? "").includes("theme=dark"))).toBe(true);
  });

  it("invariant 5: cross-site unsafe requests with the cookies are refused for every app of the group", async () => {
    // From another site in Chromium: the SameSite=Strict cookies stay home (401) or the filter refuses (403).
    const evil = await ctx.newPage();
    for (const app of apps) {
      const target = `${app.origin}${app.pathPrefix}/api/whoami`;
      const reply = evil.waitForResponse((r) => r.url() === target && r.request().method() === "POST");
      await evil.goto(attacker.formPage("cross-site", target, { amount: "1000" }));
      expect([401, 403]).toContain((await reply).status());
    }
    await evil.close();
    // A sibling of the same site sends them: the gateway refuses by Origin / Sec-Fetch-Site.
    for (const app of apps) {
      const cookie = `${app.cookieName}=${await sessionCookie(ctx, app)}`;
      const attacks: Record<string, string>[] = [
        { origin: "http://evil.localhost:1", "sec-fetch-site": "same-site" },
        { "sec-fetch-site": "cross-site" },
        { origin: "null" },
      ];
      for (const h of attacks) {
        const r = await viaGateway(stack, app, `${app.pathPrefix}/api/whoami`, { cookie, ...h }, "POST");
        expect(r.status).toBe(403);
        expect(r.body).toContain("csrf_denied");
      }
    }
    for (const app of apps) expect(app.demo.requests.filter((r) => r.method === "POST")).toHaveLength(0);
    // Control: the app's own origin may POST with its cookie.
    const own = await viaGateway(
      stack,
      apps[0],
      `${apps[0].pathPrefix}/api/whoami`,
      { cookie: `${apps[0].cookieName}=${await sessionCookie(ctx, apps[0])}`, origin: apps[0].origin },
      "POST",
    );
    expect(own.status).toBe(200);
  });

  it("invariant 7: the BFF internal endpoint is unreachable through Envoy under every app and the group's route", async () => {
    const sid = (await sessionCookie(ctx, apps[0])) ?? "";
    const headers = {
      "x-sessiongate-app": apps[0].id,
      "x-sessiongate-session": sid,
      "x-sessiongate-internal-key": stack.bffInternalKey,
    };
    const paths = [
      ...apps.map((a) => `${a.pathPrefix}/internal/v1/session-token`),
      ...apps.map((a) => `${a.pathPrefix}/auth/${a.id}/../../internal/v1/session-token`),
      `${GROUP_BASE}/../../../internal/v1/session-token`,
      `${GROUP_BASE}/internal/v1/session-token`,
      "/internal/v1/session-token",
    ];
    for (const p of paths) {
      const r = await viaGateway(stack, apps[0], p, headers);
      expect(r.body).not.toContain("access_token");
    }
  });

  it("invariant 1: no body the pages could read carried a token or a session id, and nothing was stored", async () => {
    const ids = (await ctx.cookies(apps[0].origin))
      .filter((c) => c.name.startsWith("__Host-sg-"))
      .map((c) => c.value);
    const secrets = [...ids, ...opTokens.map((t) => t.split(".")[2] ?? t)].filter((s) => s.length >= 20);
    expect(secrets.length).toBeGreaterThan(N);
    for (const r of await responses.settled()) for (const s of secrets) expect(r.body).not.toContain(s);
    const stored = String(
      await page.evaluate("JSON.stringify({ ...localStorage, ...sessionStorage, cookie: document.cookie })"),
    );
    for (const s of secrets) expect(stored).not.toContain(s);
    // The group's advice endpoint says only whether to try a silent sign-in.
    const advice = JSON.parse((await pageFetch(page, `${GROUP_BASE}/session?app=${apps[0].id}`)).body);
    expect(advice).toEqual({ group: GROUP, app: apps[0].id, silent_sign_in: false });
  });

  it("a sign-out of one app ends every app's session of the group: once at the OP, in Redis, then at the edge", async () => {
    const op = stack.op!;
    const old = await Promise.all(apps.map(async (a) => [a, (await sessionCookie(ctx, a)) ?? ""] as const));
    const ends = op.counts.end_session;
    const one = apps[3];
    await page.goto(one.url);
    await showsLoggedIn(page);
    await page.click("#logout");
    // RP-initiated once at the OP, back through the group's one post-logout URI to the app's home.
    await page.waitForURL(one.url, { timeout: budget(15_000) });
    await waitFor("the OP's end-session", async () => op.counts.end_session === ends + 1, 10_000);
    expect(await sessionCount()).toBe(0);
    expect((await ctx.cookies(one.origin)).map((c) => c.name)).not.toContain(GROUP_COOKIE);
    for (const [app, id] of old) {
      expect(
        (
          await viaGateway(stack, app, `${app.pathPrefix}/auth/${app.id}/session`, {
            cookie: `${app.cookieName}=${id}`,
          })
        ).status,
      ).toBe(401);
    }
    await waitFor(
      "every gateway route to refuse the old cookies",
      async () => {
        for (const [app, id] of old) {
          const r = await viaGateway(stack, app, `${app.pathPrefix}/api/whoami`, {
            cookie: `${app.cookieName}=${id}`,
          });
          if (r.status !== 401) return false;
        }
        return true;
      },
      (CACHE_TTL_S + 5) * 1000,
      200,
    );
    // Another app of the group now stays signed out: no silent attempt, no OP request.
    const codes = op.counts.authorization_code;
    await page.goto(apps[7].url);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(15_000) });
    expect(op.counts.authorization_code).toBe(codes);
    expect(op.counts.login_required).toBe(0);
  });

  it("a back-channel logout for the group's provider session ends every app's session of the group", async () => {
    const op = stack.op!;
    await browserLogin(page, stack, apps[5]);
    expect(op.counts.login_form).toBe(2);
    for (const app of [apps[6], apps[8]]) {
      await page.goto(app.url);
      await page.waitForURL(app.url, { timeout: budget(15_000) });
      await showsLoggedIn(page);
    }
    expect(op.counts.login_form).toBe(2);
    expect(await sessionCount()).toBe(3);
    const before = op.counts.backchannel_logout;
    // The user signs out at the OP itself (no app asked): one logout token, to the group.
    await page.goto(`${op.issuer}/session/end`);
    await waitFor("the OP's back-channel logout", async () => op.counts.backchannel_logout > before, 15_000);
    expect(op.counts.backchannel_logout).toBe(before + 1);
    await waitFor("the sessions to go", async () => (await sessionCount()) === 0, 10_000);
    // The group's sign-in is still in the browser, but the OP has no session: a
    // silent attempt comes back without a session, once, and is not repeated.
    const codes = op.counts.authorization_code;
    await page.goto(apps[9].url);
    await page.locator("#status", { hasText: "You are not logged in." }).waitFor({ timeout: budget(15_000) });
    expect(op.counts.login_required).toBe(1);
    for (const app of [apps[9], apps[4]]) {
      await page.goto(app.url);
      await page
        .locator("#status", { hasText: "You are not logged in." })
        .waitFor({ timeout: budget(15_000) });
    }
    expect(op.counts.login_required).toBe(1);
    expect(op.counts.authorization_code).toBe(codes);
    expect(await sessionCount()).toBe(0);
  });
});

describe("the group callback and login state refuse bad input and change nothing", () => {
  const app = () => apps[2];
  const loginCookie = `${GROUP_COOKIE}-login`;
  const cookieOf = (setCookie: string[], name: string) =>
    setCookie
      .map((c) => c.split(";")[0])
      .find((c) => c.startsWith(`${name}=`))
      ?.slice(name.length + 1);

  /** Starts a group login through the gateway: the login cookie and the OP's authorization URL. */
  async function start(appId = app().id, extra = ""): Promise<{ cookie: string; authUrl: string }> {
    const r = await viaGateway(stack, app(), `${GROUP_BASE}/login?app=${appId}${extra}`);
    expect(r.status).toBe(302);
    const setCookie = ([] as string[]).concat(r.headers["set-cookie"] ?? []);
    return { cookie: cookieOf(setCookie, loginCookie) ?? "", authUrl: String(r.headers.location) };
  }

  /** The OP's answer (code, state, iss) for a login, as a path on the gateway. */
  async function opAnswer(authUrl: string): Promise<string> {
    const back = new URL(await new OpBrowser(stack.op!.issuer).login(authUrl, ALICE));
    return `${back.pathname}${back.search}`;
  }

  const callback = (path: string, cookie?: string) =>
    viaGateway(stack, app(), path, cookie ? { cookie: `${loginCookie}=${cookie}` } : {});

  it("a complete login works once; its replay, a missing or tampered login cookie, a foreign state and a foreign iss are refused", async () => {
    const before = await sessionCount();
    const { cookie, authUrl } = await start();
    expect(new URL(authUrl).searchParams.get("redirect_uri")).toBe(`${app().origin}${GROUP_BASE}/callback`);
    expect(new URL(authUrl).searchParams.get("resource")).toBe(app().audience);
    const path = await opAnswer(authUrl);
    expect(path.startsWith(`${GROUP_BASE}/callback?`)).toBe(true);

    const noCookie = await callback(path);
    expect(noCookie.status).toBe(400);
    const tampered = await callback(path, `${cookie.slice(0, -4)}AAAA`);
    expect(tampered.status).toBe(400);
    const foreignIss = await callback(`${path}&iss=${encodeURIComponent("http://evil.example")}`, cookie);
    expect(foreignIss.status).toBe(400);
    const other = await start();
    const foreignState = await callback(path, other.cookie);
    expect(foreignState.status).toBe(400);
    expect(JSON.parse(foreignState.body).error_description).toContain("state mismatch");
    expect(await sessionCount()).toBe(before);

    const ok = await callback(path, cookie);
    expect(ok.status).toBe(200);
    const set = ([] as string[]).concat(ok.headers["set-cookie"] ?? []);
    expect(cookieOf(set, app().cookieName)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await sessionCount()).toBe(before + 1);
    const replay = await callback(path, cookie);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.body).error_description).toContain("already used");
    expect(await sessionCount()).toBe(before + 1);
  });

  it("a login cookie of another group or app outside the group does not open, and nothing is written", async () => {
    const before = await sessionCount();
    const { cookie, authUrl } = await start();
    const path = await opAnswer(authUrl);
    // The same sealed state under another group's route: unknown group, or (sealed for "shop") unreadable.
    const otherGroup = await viaGateway(stack, app(), path.replace(`/_group/${GROUP}/`, "/_group/other/"), {
      cookie: `__Host-sg-_g-other-login=${cookie}`,
    });
    expect(otherGroup.status).toBe(404);
    // An app's own login cookie name at the group's callback: not the group's state.
    const asApp = await viaGateway(stack, app(), path, { cookie: `${app().cookieName}-login=${cookie}` });
    expect(asApp.status).toBe(400);
    // Logins for apps outside the group are refused before the OP is asked.
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/login?app=solo`)).status).toBe(400);
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/login?app=nope`)).status).toBe(400);
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/login`)).status).toBe(400);
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/session?app=solo`)).status).toBe(400);
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/logout/callback?state=solo`)).status).toBe(400);
    expect((await viaGateway(stack, app(), `/auth/_group/nope/login?app=${app().id}`)).status).toBe(404);
    expect((await viaGateway(stack, app(), "/auth/_group/NOPE/callback")).status).toBe(404);
    expect((await viaGateway(stack, app(), "/auth/_group/")).status).toBe(404);
    expect(await sessionCount()).toBe(before);
  });

  it("bad login parameters: a foreign return_to, another prompt, a wrong method; the app's own login leads to the group's", async () => {
    const evil = await viaGateway(
      stack,
      app(),
      `${GROUP_BASE}/login?app=${app().id}&return_to=${encodeURIComponent("https://evil.example/")}`,
    );
    expect(evil.status).toBe(400);
    expect(JSON.parse(evil.body).error).toBe("invalid_return_to");
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/login?app=${app().id}&prompt=login`)).status).toBe(
      400,
    );
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/callback`, {}, "POST")).status).toBe(405);
    expect((await viaGateway(stack, app(), `${GROUP_BASE}/backchannel-logout`, {}, "GET")).status).toBe(405);
    const own = await viaGateway(stack, app(), `${app().pathPrefix}/auth/${app().id}/login?return_to=/x`);
    expect(own.status).toBe(302);
    expect(own.headers.location).toBe(`${GROUP_BASE}/login?app=${app().id}&return_to=%2Fx`);
    const silent = await start(app().id, "&prompt=none");
    expect(new URL(silent.authUrl).searchParams.get("prompt")).toBe("none");
  });

  it("a back-channel logout token that is not the OP's is refused at the group's route", async () => {
    const r = await viaGateway(
      stack,
      app(),
      `${GROUP_BASE}/backchannel-logout`,
      { "content-type": "application/x-www-form-urlencoded" },
      "POST",
    );
    expect(r.status).toBe(400);
  });
});
