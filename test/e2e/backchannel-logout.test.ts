// Back-channel logout end to end in Chromium: alice is logged in and the SPA
// calls its API; she signs out at the OP itself (not through the app), the OP
// posts a logout_token to the BFF through the gateway, and the gateway
// refuses the session's requests within the wasm token-cache bound.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, startBrowser, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import {
  bffMetric,
  browserLogin,
  envoyCounter,
  pageFetch,
  sessionCookie,
  viaGateway,
} from "./browser-steps.js";

const CACHE_TTL_S = 3;
// Generous: two cores shared by several test runs (the figure itself is reported).
const MARGIN_S = 5;
const HITS = "wasmcustom.session_to_token.hits";

let stack: DemoStack;
let browser: Browser;
let ctx: BrowserContext;
let backchannelAt = 0;

beforeAll(async () => {
  stack = await startDemoStack({ port: await freePort(), cacheMaxTtlS: CACHE_TTL_S, idp: null });
  stack.op!.provider.on("backchannel.success", () => {
    backchannelAt ||= Date.now();
  });
  browser = await startBrowser();
  ctx = await browser.newContext();
}, budget(120_000));

afterAll(async () => {
  await ctx?.close();
});

describe("back-channel logout through the gateway", () => {
  let spa: Page;
  let sid = "";

  it("logged in, the SPA's API calls work and are served from the edge cache", async () => {
    expect(stack.cacheMaxTtlS).toBe(CACHE_TTL_S);
    spa = await ctx.newPage();
    await browserLogin(spa, stack, stack.apps[0]);
    sid = (await sessionCookie(ctx, stack.apps[0])) ?? "";
    expect(sid).not.toBe("");
    const hits = await envoyCounter(stack, HITS);
    for (let i = 0; i < 3; i++) expect((await pageFetch(spa, "/api/whoami")).status).toBe(200);
    expect(await envoyCounter(stack, HITS)).toBeGreaterThan(hits);
  });

  it(`the gateway refuses the session within the cache bound (${CACHE_TTL_S} s) after the OP's logout`, async () => {
    const app = stack.apps[0];
    const op = stack.op!;
    const bcBefore = op.counts.backchannel_logout;
    const rpLogouts = await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`);
    // The SPA keeps calling its API (as an open app would) while the user
    // signs out at the OP in another tab.
    const statuses: { at: number; status: number; body: string }[] = [];
    const poll = (async () => {
      const deadline = Date.now() + (CACHE_TTL_S + MARGIN_S + 15) * 1000;
      while (Date.now() < deadline) {
        const r = await pageFetch(spa, "/api/whoami");
        statuses.push({ at: Date.now(), status: r.status, body: r.body });
        if (r.status !== 200) break;
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    await new Promise((res) => setTimeout(res, 300));

    const opTab = await ctx.newPage();
    const end = new URL(`${op.issuer}/session/end`);
    // No post-logout redirect back to the app: its logout callback would clear
    // the cookie, and then the browser would simply stop sending it. Here the
    // browser keeps it; only the BFF knows the session ended.
    end.searchParams.set("client_id", app.clientId);
    await opTab.goto(end.href);
    await waitFor("the OP's back-channel logout", async () => backchannelAt > 0, 15_000);
    expect(op.counts.backchannel_logout).toBe(bcBefore + 1);
    await poll;

    const refused = statuses.find((s) => s.status !== 200);
    expect(refused, "the gateway never refused the session").toBeDefined();
    expect(refused!.status).toBe(401);
    expect(JSON.parse(refused!.body).error).toBe("no_session");
    // Every answer before the logout was a success: the 401 is the logout's doing.
    expect(statuses.filter((s) => s.at < backchannelAt).every((s) => s.status === 200)).toBe(true);
    const tookMs = refused!.at - backchannelAt;
    const servedAfter = statuses.filter((s) => s.at >= backchannelAt && s.status === 200).length;
    console.log(
      `back-channel logout -> gateway 401: ${tookMs} ms (cache bound ${CACHE_TTL_S} s; ` +
        `${servedAfter} calls still served from the edge cache meanwhile, polled every ~100 ms)`,
    );
    expect(tookMs).toBeLessThanOrEqual((CACHE_TTL_S + MARGIN_S) * 1000);

    // The BFF ended it (back-channel, not the app's own logout), and it stays ended.
    expect(await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="backchannel"}`)).toBe(
      1,
    );
    expect(await bffMetric(stack, `sessiongate_bff_logouts_total{app="${app.id}",kind="rp"}`)).toBe(
      rpLogouts,
    );
    expect((await pageFetch(spa, `${app.authBase}/session`)).status).toBe(401);
    // The edge's 401 cleared the cookie; replayed by hand it is refused too.
    expect(await sessionCookie(ctx, app)).toBeUndefined();
    expect((await viaGateway(stack, app, "/api/whoami", { cookie: `${app.cookieName}=${sid}` })).status).toBe(
      401,
    );
  });
});
