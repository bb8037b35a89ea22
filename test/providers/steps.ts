// Steps the provider tests share: the API through the gateway with the
// browser's session cookie, and how long the gateway kept accepting it.
import type { BrowserContext } from "playwright-core";
import { expect } from "vitest";
import type { DemoStack } from "../demo/stack.js";
import { hostRequest } from "../harness/http.js";
import { waitFor } from "../harness/ports.js";

/** The app's session cookie in the browser, as a Cookie header (read before a logout clears it). */
export async function sessionCookie(stack: DemoStack, ctx: BrowserContext): Promise<string> {
  const app = stack.apps[0];
  const c = (await ctx.cookies(app.origin)).find((x) => x.name === app.cookieName);
  if (!c) throw new Error("no session cookie in the browser");
  return `${c.name}=${c.value}`;
}

/** GET /api/whoami through the gateway with that cookie; the status. */
export async function apiWithCookie(stack: DemoStack, cookie: string): Promise<number> {
  const r = await hostRequest(stack.gatewayPort, "/api/whoami", { host: stack.apps[0].host, cookie });
  return r.status;
}

/**
 * After a logout (done at `t0`), polls the API with the session's cookie until
 * the gateway refuses it (401); returns how long after `t0` the last accepted
 * request started: what the filter cache's max_ttl_s bounds.
 */
export async function lastAcceptedAfter(stack: DemoStack, cookie: string, t0: number): Promise<number> {
  let lastAccepted = t0;
  await waitFor(
    "the gateway to refuse the session cookie",
    async () => {
      const started = Date.now();
      const status = await apiWithCookie(stack, cookie);
      if (status === 200) lastAccepted = started;
      else expect(status).toBe(401);
      return status === 401;
    },
    stack.cacheMaxTtlS * 1000 + 30_000,
    100,
  );
  return lastAccepted - t0;
}
