// Browser steps the demo-stack tests share: a login at the demo OP through
// the gateway, what the page could read, and gateway-side counters.
import type { BrowserContext, Page, Response } from "playwright-core";
import type { DemoApp, DemoStack } from "../demo/stack.js";
import { type HostReply, hostRequest } from "../harness/index.js";
import { budget } from "../harness/slowness.js";

export interface Creds {
  username: string;
  password: string;
}

export const ALICE: Creds = { username: "alice", password: "wonderland" };

/**
 * Logs `page` in to `app`: the BFF's login URL, the OP's form when it asks
 * (an OP session from an earlier login skips it), back on the SPA logged in.
 */
export async function browserLogin(page: Page, stack: DemoStack, app: DemoApp, creds = ALICE): Promise<void> {
  const op = stack.op!;
  await page.goto(app.loginUrl);
  await page.waitForURL(
    (u) => u.href === app.url || (u.origin === op.issuer && u.pathname.startsWith("/interaction/")),
    { timeout: budget(15_000) },
  );
  if (new URL(page.url()).origin === op.issuer) {
    await page.locator('input[name="username"]').waitFor({ timeout: budget(10_000) });
    await page.fill('input[name="username"]', creds.username);
    await page.fill('input[name="password"]', creds.password);
    await page.click('button[type="submit"]');
  }
  await page.waitForURL(app.url, { timeout: budget(15_000) });
  await page
    .locator("#status", { hasText: "Logged in as" })
    .waitFor({ timeout: budget(10_000) })
    .catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await pageState(page)}`);
    });
}

/** Where the page is and what it shows: for a failed wait's message. */
export async function pageState(page: Page): Promise<string> {
  const text = async (sel: string) =>
    page
      .locator(sel)
      .textContent({ timeout: 1_000 })
      .catch(() => "(none)");
  return `page at ${page.url()}; #status: ${await text("#status")}; #out: ${await text("#out")}`;
}

/** The app's session cookie in the browser (undefined when there is none). */
export async function sessionCookie(ctx: BrowserContext, app: DemoApp): Promise<string | undefined> {
  return (await ctx.cookies(app.origin)).find((c) => c.name === app.cookieName)?.value;
}

/** GET/POST from inside the page (same origin as the page): what its JavaScript would see. */
export async function pageFetch(
  page: Page,
  url: string,
  init: { method?: string; headers?: Record<string, string>; credentials?: "omit" | "include" } = {},
): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ([u, i]) => {
      const r = await fetch(u, { ...i, credentials: i.credentials ?? "include", redirect: "manual" });
      return { status: r.status, body: await r.text() };
    },
    [url, init] as const,
  );
}

/** Every response body the page could read (redirects have none). */
export class ResponseLog {
  readonly seen: { url: string; status: number; body: string }[] = [];
  private readonly pending: Promise<void>[] = [];

  /** A page, or a whole context (every page in it, popups and other origins too). */
  watch(target: Page | BrowserContext): void {
    (target as Page).on("response", (res) => this.record(res));
  }

  private record(res: Response): void {
    // A body can stay unreadable (a navigation superseded mid-flight): bound each read.
    const timeout = new Promise<void>((r) => setTimeout(r, 5_000).unref());
    const read = res
      .text()
      .then((body) => void this.seen.push({ url: res.url(), status: res.status(), body }))
      .catch(() => {});
    this.pending.push(Promise.race([read, timeout]));
  }

  async settled(): Promise<{ url: string; status: number; body: string }[]> {
    await Promise.all(this.pending);
    return this.seen;
  }
}

/** A request through the gateway with an explicit Host and headers (no browser). */
export function viaGateway(
  stack: DemoStack,
  app: DemoApp,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<HostReply> {
  return hostRequest(stack.gatewayPort, path, { host: app.host, ...headers }, { method });
}

/** One of Envoy's counters (0 when it does not exist yet). */
export async function envoyCounter(stack: DemoStack, name: string): Promise<number> {
  return (await stack.envoy.stats()).get(name) ?? 0;
}

/** A sample of the BFF's Prometheus metrics, by its full series text (0 when absent). */
export async function bffMetric(stack: DemoStack, series: string): Promise<number> {
  const text = await (await fetch(`${stack.bff.adminUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
