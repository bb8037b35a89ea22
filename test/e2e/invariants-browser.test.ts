// Security invariants 1, 5, 6 and 7 (docs/architecture.md#security-invariants) from the browser's side, in
// Chromium against the demo stack (bff mode): Envoy over ADS, the wasm
// filter, jwt_authn, the real BFF, xds-server and OP.
import { Redis } from "ioredis";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoApp, type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, hostRequest, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { type AttackerSite, startAttackerSite } from "./attacker-site.js";
import {
  bffMetric,
  browserLogin,
  envoyCounter,
  pageFetch,
  ResponseLog,
  sessionCookie,
  viaGateway,
} from "./browser-steps.js";

let stack: DemoStack;
let app: DemoApp;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let sid = "";
let attacker: AttackerSite;
let redis: Redis;
const responses = new ResponseLog();
const opTokens: string[] = []; // every access, refresh and ID token the OP issued

beforeAll(async () => {
  stack = await startDemoStack({ port: await freePort(), cacheMaxTtlS: 2, idp: null });
  app = stack.apps[0];
  stack.op!.provider.on("grant.success", (c) => {
    const body = c.body as Record<string, unknown> | undefined;
    for (const k of ["access_token", "refresh_token", "id_token"]) {
      if (typeof body?.[k] === "string") opTokens.push(body[k] as string);
    }
  });
  redis = new Redis(stack.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  attacker = await startAttackerSite();
  browser = await startBrowser();
  ctx = await browser.newContext();
  responses.watch(ctx);
  page = await ctx.newPage();
  await browserLogin(page, stack, app);
  sid = (await sessionCookie(ctx, app)) ?? "";
}, budget(120_000));

afterAll(async () => {
  redis?.disconnect();
  await ctx?.close();
});

const sessionKeys = async () => (await redis.keys("sg:s:{*}")).filter((k) => !k.endsWith(":lock")).length;

describe("security invariants from the browser (bff mode)", () => {
  it("invariant 6: the upstream never sees the session cookie, on GET, POST and navigation", async () => {
    expect(sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Another cookie of the site rides along: the filter strips only the session cookie.
    await ctx.addCookies([{ name: "theme", value: "dark", url: app.origin, sameSite: "Lax" }]);
    expect((await pageFetch(page, "/api/whoami")).status).toBe(200);
    const post = await pageFetch(page, "/api/whoami", {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    expect(post.status).toBe(200);
    await page.goto(`${app.origin}/api/whoami?nav=1`);
    await page.goto(app.url);
    await page.locator("#status", { hasText: "Logged in as" }).waitFor();

    // Every request the upstream saw: the public SPA shell (the gateway drops
    // all cookies there) and the API (session cookie swapped for a token).
    const seen = app.demo.requests;
    const api = seen.filter((r) => r.path.startsWith("/api/"));
    expect(seen.length).toBeGreaterThan(api.length);
    expect(api.some((r) => r.method === "POST")).toBe(true);
    expect(api.some((r) => r.path === "/api/whoami?nav=1")).toBe(true);
    // The other cookie is forwarded, so the check below looks at real Cookie headers.
    expect(api.some((r) => r.headers.cookie === "theme=dark")).toBe(true);
    for (const r of seen) {
      const headers = JSON.stringify(r.headers);
      expect(headers, `${r.method} ${r.path}`).not.toContain(app.cookieName);
      expect(headers, `${r.method} ${r.path}`).not.toContain(sid);
    }
    for (const r of api) expect(String(r.headers.authorization), r.path).toMatch(/^Bearer eyJ/);
  });

  it("invariant 5: a cross-site form POST to the API and to logout is refused and changes nothing", async () => {
    const before = {
      keys: await sessionKeys(),
      upstream: app.demo.requests.length,
      endSessions: stack.op!.counts.end_session,
      logouts: await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`),
      csrf: await envoyCounter(stack, "wasmcustom.session_to_token.csrf_denied"),
    };
    const evil = await ctx.newPage();
    const outcomes: Record<string, number> = {};
    for (const site of ["cross-site", "same-site"] as const) {
      for (const target of [`${app.origin}/api/whoami`, `${app.authBase}/logout`]) {
        const reply = evil.waitForResponse((r) => r.url() === target && r.request().method() === "POST");
        await evil.goto(attacker.formPage(site, target, { amount: "1000" }));
        const res = await reply;
        outcomes[`${site} ${new URL(target).pathname}`] = res.status();
      }
    }
    // Another site: the SameSite=Strict cookie stays home (401/403). The same
    // site on another port does send it: the Origin check refuses (403).
    expect(outcomes).toEqual({
      "cross-site /api/whoami": expect.toSatisfy((s: number) => s === 401 || s === 403),
      "cross-site /auth/demo/logout": 403,
      "same-site /api/whoami": 403,
      "same-site /auth/demo/logout": 403,
    });
    expect(await envoyCounter(stack, "wasmcustom.session_to_token.csrf_denied")).toBeGreaterThan(before.csrf);

    // Nothing changed: no request reached the upstream, the session lives.
    expect(app.demo.requests.length).toBe(before.upstream);
    expect(await sessionKeys()).toBe(before.keys);
    expect(await sessionCookie(ctx, app)).toBe(sid);
    expect(stack.op!.counts.end_session).toBe(before.endSessions);
    expect(await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`)).toBe(
      before.logouts,
    );
    expect((await pageFetch(page, "/api/whoami")).status).toBe(200);
    expect((await pageFetch(page, `${app.authBase}/session`)).status).toBe(200);
    // Control: the app's own (same-origin) form POST goes through.
    const own = page.waitForResponse(
      (r) => r.url() === `${app.origin}/api/whoami` && r.request().method() === "POST",
    );
    await page.evaluate(`(() => {
      const f = Object.assign(document.createElement("form"), { method: "post", action: "/api/whoami" });
      document.body.appendChild(f);
      f.submit();
    })()`);
    expect((await own).status()).toBe(200);
    await page.waitForURL(`${app.origin}/api/whoami`);
    await page.goto(app.url);
  });

  it("logout is not a cross-site GET: a link from another site or the same site gets a page, never a logout; logout/callback clears nothing", async () => {
    const before = {
      keys: await sessionKeys(),
      endSessions: stack.op!.counts.end_session,
      logouts: await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`),
    };
    const target = `${app.authBase}/logout`;
    const evil = await ctx.newPage();
    // The provider's way back (logout/callback) is a GET anyone can link to: it clears no cookie.
    for (const site of ["cross-site", "same-site"] as const) {
      const callback = `${app.authBase}/logout/callback`;
      await evil.goto(attacker.linkPage(site, callback));
      const reply = evil.waitForResponse((r) => r.url() === callback);
      await evil.click("#link");
      const res = await reply;
      expect(res.status()).toBe(302);
      expect(res.headers()["set-cookie"]).toBeUndefined();
      expect(await sessionCookie(ctx, app)).toBe(sid);
    }
    const seen: Record<string, { status: number; fetchSite: string; body: string }> = {};
    for (const site of ["cross-site", "same-site"] as const) {
      await evil.goto(attacker.linkPage(site, target));
      const reply = evil.waitForResponse((r) => r.url() === target);
      await evil.click("#link");
      const res = await reply;
      seen[site] = {
        status: res.status(),
        fetchSite: (await res.request().allHeaders())["sec-fetch-site"] ?? "",
        body: await res.text(),
      };
    }
    expect(seen["cross-site"].fetchSite).toBe("cross-site");
    // From the same site (another port of localhost) the SameSite=Strict cookie goes along.
    expect(seen["same-site"].fetchSite).toBe("same-site");
    for (const s of Object.values(seen)) {
      expect(s.status).toBe(200);
      expect(s.body).toContain('<form method="post">');
    }
    await evil.close();
    // A cross-origin POST is refused (403), as invariant 5 shows for forms; nothing ended.
    expect(await sessionKeys()).toBe(before.keys);
    expect(await sessionCookie(ctx, app)).toBe(sid);
    expect(stack.op!.counts.end_session).toBe(before.endSessions);
    expect(await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`)).toBe(
      before.logouts,
    );
    expect((await pageFetch(page, `${app.authBase}/session`)).status).toBe(200);
  });

  it("invariant 7: the BFF internal endpoint is unreachable through Envoy from the browser", async () => {
    const INTERNAL = "/internal/v1/session-token";
    const paths = [
      INTERNAL,
      `/${INTERNAL}`,
      `/.${INTERNAL}`,
      `/auth/..${INTERNAL}`,
      `/auth/${app.id}/../..${INTERNAL}`,
      `/auth/%2e%2e${INTERNAL}`,
      `/auth/${app.id}/..%2F..%2Finternal/v1/session-token`,
      "/%69nternal/v1/session-token",
      "/internal%2Fv1%2Fsession-token",
      `${INTERNAL}/`,
      `${INTERNAL}?app=${app.id}`,
      `/auth${INTERNAL}`,
      `/auth/${app.id}${INTERNAL}`,
      "/INTERNAL/v1/session-token",
      "/metrics",
      "/auth/metrics",
      `/auth/${app.id}/../../metrics`,
      "/healthz",
      "/readyz",
    ];
    const headerSets: Record<string, string>[] = [
      {},
      { "x-sessiongate-app": app.id, "x-sessiongate-session": sid },
      {
        "x-sessiongate-app": app.id,
        "x-sessiongate-session": sid,
        "x-sessiongate-internal-key": stack.bffInternalKey,
      },
    ];
    const rq = "cluster.sessiongate_bff_internal.upstream_rq_total";
    const misses = "wasmcustom.session_to_token.misses";
    // Counters read only once they have settled: a lookup the page started just
    // before counts its miss at once but its upstream request only when the
    // connection to the BFF is ready.
    const settled = () => {
      let last = "";
      return waitFor(
        "Envoy's counters to settle",
        async () => {
          const now = { rq: await envoyCounter(stack, rq), misses: await envoyCounter(stack, misses) };
          const same = JSON.stringify(now) === last;
          last = JSON.stringify(now);
          return same ? now : undefined;
        },
        10_000,
        250,
      );
    };
    const before = await settled();
    const answers: { via: string; path: string; status: number; body: string }[] = [];
    for (const path of paths) {
      for (const headers of headerSets) {
        // The browser (it normalises dot segments itself), with and without the cookie…
        for (const credentials of ["include", "omit"] as const) {
          // Absolute: "//internal/…" alone would be a URL for the host "internal".
          const r = await pageFetch(page, `${app.origin}${path}`, { headers, credentials });
          answers.push({ via: `browser/${credentials}`, path, ...r });
        }
        // …and the same path byte for byte, as a client that does not normalise.
        const raw = await viaGateway(stack, app, path, { ...headers, cookie: `${app.cookieName}=${sid}` });
        answers.push({ via: "raw", path, status: raw.status, body: raw.body });
      }
    }
    expect(answers.length).toBe(paths.length * headerSets.length * 3);
    for (const a of answers) {
      const what = `${a.via} ${a.path} -> ${a.status} ${a.body.slice(0, 80)}`;
      expect(a.body, what).not.toMatch(/access_token|token_type|sessiongate_bff_|"redis"/);
      for (const t of opTokens) expect(a.body.includes(t), what).toBe(false);
    }
    // Every request that reached the internal cluster was the filter's own
    // token lookup (a cache miss): Envoy routed none there.
    const after = await settled();
    expect(after.rq - before.rq).toBe(after.misses - before.misses);
    // And no route in Envoy's configuration points at it.
    const dump = (await stack.envoy.configDump()) as { configs: { "@type": string }[] };
    const routes = dump.configs.filter((c) => c["@type"].endsWith(".RoutesConfigDump"));
    expect(routes).toHaveLength(1);
    expect(JSON.stringify(routes)).toContain("sessiongate_bff_public");
    expect(JSON.stringify(routes)).not.toContain("sessiongate_bff_internal");
    // The session still works (none of this touched it).
    expect((await pageFetch(page, "/api/whoami")).status).toBe(200);
    // Sanity: the same request straight to the internal listener is answered.
    const direct = await hostRequest(Number(new URL(stack.bff.internalUrl).port), INTERNAL, headerSets[2]);
    expect(direct.status).toBe(200);
    expect(JSON.parse(direct.body).token_type).toBe("Bearer");
  });

  it("invariant 1: no response body the page could read carries a token or the session id", async () => {
    // The BFF's other routes as the page's JavaScript would call them.
    for (const path of [
      `${app.authBase}/session`,
      `${app.authBase}/token`,
      `${app.authBase}/nope`,
      "/auth/other-app/session",
    ]) {
      await pageFetch(page, path, { headers: { "x-sessiongate-csrf": "1" } });
    }
    const token = await pageFetch(page, `${app.authBase}/token`, { headers: { "x-sessiongate-csrf": "1" } });
    expect(token.status).toBe(404); // bff mode: no token endpoint at all
    await page.click("#whoami");
    await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });

    const seen = (await responses.settled()).filter((s) => s.body.length > 0);
    const accessTokens = opTokens.filter((t) => t.startsWith("eyJ"));
    expect(opTokens.length).toBeGreaterThanOrEqual(3); // access, refresh and ID token of the login
    const secrets = [sid, ...opTokens, ...accessTokens.map((t) => t.split(".")[2])];
    const gateway = seen.filter((s) => s.url.startsWith(app.origin));
    // The scan covered the gateway's answers: SPA, session, whoami, the BFF's
    // errors and the refusals above. (The callback page moves on at once, so
    // its body is gone before it can be read here; test/bff/security.test.ts
    // scans it.)
    expect(gateway.some((s) => s.url === app.url && s.status === 200)).toBe(true);
    expect(gateway.some((s) => s.url.endsWith(`/auth/${app.id}/session`) && s.status === 200)).toBe(true);
    expect(gateway.some((s) => s.url.endsWith("/api/whoami") && s.status === 200)).toBe(true);
    expect(gateway.some((s) => s.url.endsWith(`/auth/${app.id}/token`) && s.status === 404)).toBe(true);
    expect(gateway.some((s) => s.status === 403)).toBe(true);
    expect(gateway.length).toBeGreaterThanOrEqual(20);
    for (const s of seen) {
      for (const secret of secrets) expect(s.body.includes(secret), `${s.url} leaks a secret`).toBe(false);
    }
    for (const s of gateway)
      expect(s.body, `${s.url} carries a JWT`).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
  });
});
