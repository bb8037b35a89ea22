// GET <prefix>/<app>/client.js and the browser client it serves, against a
// real BFF, Redis and OP. The client runs here in Node with a fetch that
// behaves like a browser's cookie jar (the session cookie goes along unless
// credentials are "omit"); the browser tests (test/e2e) run it in Chromium.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { type EchoHandle, type OpHandle, startEcho, startOP, startRedis, waitFor } from "../harness/index.js";
import { bffConfig, json, login, opClient, ports, type TestApp } from "./helpers.js";

type ClientModule = typeof import("../../bff/client/sessiongate.js");

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const SPA: TestApp = { id: "spa", mode: "tokenExchange", secret: "spa-secret-0123456789abcdef" };
// Short-lived access tokens, so the client's renewal shows within a test; the BFF
// skew (30 s) exceeds them, so every /token call the client makes is a refresh.
const AT_TTL_S = 10;

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let echo: EchoHandle;
let redisUrl: string;
const tmp = join(import.meta.dirname, "..", ".logs", `client-${process.pid}`);

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  redisUrl = redis.url;
  op = await startOP({ clients: [opClient(publicUrl, WEB), opClient(publicUrl, SPA)], ttl: AT_TTL_S });
  bff = await startBff(
    validateConfig(
      bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB, SPA], skew: 30 }),
    ),
    { defaultMetrics: false },
  );
  echo = await startEcho();
  mkdirSync(tmp, { recursive: true });
});

afterAll(async () => {
  await bff?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Imports the module exactly as the BFF served it for `app`. */
async function servedClient(app: string): Promise<ClientModule> {
  const res = await fetch(`${publicUrl}/auth/${app}/client.js`);
  expect(res.status).toBe(200);
  const file = join(tmp, `${app}-${Date.now()}.mjs`);
  writeFileSync(file, await res.text());
  return (await import(pathToFileURL(file).href)) as ClientModule;
}

interface Sent {
  url: URL;
  method: string;
  headers: Headers;
}

/** fetch with a browser's cookie rule for the BFF origin; records what was sent. */
function cookieJarFetch(cookie: () => string | null, sent: Sent[]) {
  return (input: string | URL | Request, init: RequestInit = {}) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init.headers);
    const c = cookie();
    if (c && init.credentials !== "omit" && url.origin === publicUrl) headers.set("cookie", c);
    sent.push({ url, method: init.method ?? "GET", headers });
    return fetch(input, { ...init, headers });
  };
}

describe("GET <prefix>/<app>/client.js", () => {
  it("serves the client with the app's settings filled in, as a cacheable, nosniff JavaScript module", async () => {
    const res = await fetch(`${publicUrl}/auth/spa/client.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("etag")).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    const body = await res.text();
    expect(res.headers.get("content-length")).toBe(String(Buffer.byteLength(body)));
    expect(body).toContain('const SERVED = {"app":"spa","mode":"tokenExchange","prefix":"/auth"};');
    expect(body).not.toContain("sessiongate:config");
    expect(body).toMatch(/export function createSession/);
    // No session needed: the SPA loads it before login.
    expect(res.headers.get("set-cookie")).toBeNull();

    const web = await fetch(`${publicUrl}/auth/web/client.js`);
    expect(await web.text()).toContain('const SERVED = {"app":"web","mode":"bff","prefix":"/auth"};');
    expect(web.headers.get("etag")).not.toBe(res.headers.get("etag"));
  });

  it("answers 304 to a matching If-None-Match (strong, weak, in a list, or *) and 200 otherwise", async () => {
    const etag = (await fetch(`${publicUrl}/auth/spa/client.js`)).headers.get("etag")!;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const r = await fetch(`${publicUrl}/auth/spa/client.js`, { headers: { "if-none-match": inm } });
      expect(r.status, inm).toBe(304);
      expect(r.headers.get("etag")).toBe(etag);
      expect(await r.text()).toBe("");
    }
    const stale = await fetch(`${publicUrl}/auth/spa/client.js`, { headers: { "if-none-match": '"stale"' } });
    expect(stale.status).toBe(200);
  });

  it("HEAD has the headers and no body; other methods 405; an unknown app 404", async () => {
    const head = await fetch(`${publicUrl}/auth/spa/client.js`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(1000);
    expect(await head.text()).toBe("");
    const post = await fetch(`${publicUrl}/auth/spa/client.js`, { method: "POST" });
    expect(post.status).toBe(405);
    const unknown = await fetch(`${publicUrl}/auth/nope/client.js`);
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error).toBe("unknown_app");
  });

  it("an app under a path prefix (as registered apps are) gets its routes' prefix baked in", async () => {
    const [port] = await ports(1);
    const cfg = validateConfig(bffConfig({ publicPort: port, redisUrl, issuer: op.issuer, apps: [SPA] }));
    // What bff/apps/convert.ts makes of an app registered with path_prefix /shop.
    cfg.apps = cfg.apps.map((a) => ({ ...a, routeBase: "/shop" }));
    const other = await startBff(cfg, { defaultMetrics: false });
    try {
      const res = await fetch(`http://127.0.0.1:${port}/shop/auth/spa/client.js`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(
        'const SERVED = {"app":"spa","mode":"tokenExchange","prefix":"/shop/auth"};',
      );
      expect((await fetch(`http://127.0.0.1:${port}/auth/spa/client.js`)).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it("the metrics label the route as client.js", async () => {
    const metrics = await (await fetch(`${bff.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/route="client\.js",status="200"/);
    expect(metrics).toMatch(/route="client\.js",status="304"/);
  });
});

describe("the served client against the BFF", () => {
  it("bff mode: session() is null, then the user after login; onChange follows; getToken is refused locally", async () => {
    const { createSession } = await servedClient("web");
    let cookie: string | null = null;
    const sent: Sent[] = [];
    const sg = createSession({ origin: publicUrl, fetch: cookieJarFetch(() => cookie, sent) });
    expect(sg.app).toBe("web");
    expect(sg.mode).toBe("bff");
    const seen: (string | null)[] = [];
    sg.onChange((info) => seen.push(info ? info.sub : null));
    expect(sg.current).toBeUndefined();
    expect(await sg.session()).toBeNull();
    const r = await login(publicUrl, op, "web");
    cookie = `__Host-sg-web=${r.session}`;
    const info = await sg.session();
    expect(info).toMatchObject({ authenticated: true, app: "web", mode: "bff", sub: "alice" });
    expect(info!.user.email).toBe("alice@example.test");
    await sg.session(); // same user: no second notification
    expect(seen).toEqual([null, "alice"]);
    expect(sg.loginUrl("/a?b=1#c")).toBe(`${publicUrl}/auth/web/login?return_to=%2Fa%3Fb%3D1%23c`);
    await expect(sg.getToken()).rejects.toMatchObject({ name: "SessionGateError", code: "not_enabled" });
    expect(sent.some((s) => s.url.pathname.endsWith("/token"))).toBe(false);
    // bff mode fetch sends the cookie (the gateway swaps it for a token).
    const res = await sg.fetch(`${publicUrl}/auth/web/session`);
    expect(res.status).toBe(200);
  });

  it("tokenExchange: concurrent getToken() calls share one /token request with the CSRF header; the token is reused", async () => {
    const { createSession } = await servedClient("spa");
    const r = await login(publicUrl, op, "spa");
    const sent: Sent[] = [];
    const sg = createSession({
      origin: publicUrl,
      fetch: cookieJarFetch(() => `__Host-sg-spa=${r.session}`, sent),
    });
    expect(sg.mode).toBe("tokenExchange");
    const tokens = await Promise.all(Array.from({ length: 8 }, () => sg.getToken()));
    const calls = () => sent.filter((s) => s.url.pathname === "/auth/spa/token");
    expect(calls()).toHaveLength(1);
    expect(calls()[0].method).toBe("POST");
    expect(calls()[0].headers.get("x-sessiongate-csrf")).toBe("1");
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).toMatch(/^eyJ/);
    expect(await sg.getToken()).toBe(tokens[0]);
    expect(calls()).toHaveLength(1);
  });

  it("tokenExchange: renews the token before it expires, once per renewal", async () => {
    const { createSession } = await servedClient("spa");
    const r = await login(publicUrl, op, "spa");
    const sent: Sent[] = [];
    const sg = createSession({
      origin: publicUrl,
      fetch: cookieJarFetch(() => `__Host-sg-spa=${r.session}`, sent),
    });
    const first = await sg.getToken();
    const exp = (t: string) => JSON.parse(Buffer.from(t.split(".")[1], "base64url").toString()).exp as number;
    // Polls like an SPA making API calls; the client asks the BFF again only
    // when less than half of the token's lifetime is left.
    const second = await waitFor(
      "a renewed token",
      async () => {
        const t = await sg.getToken();
        return t !== first ? { t, at: Date.now() / 1000 } : undefined;
      },
      (AT_TTL_S + 10) * 1000,
      100,
    );
    expect(second.at).toBeLessThan(exp(first)); // renewed while the old one was still valid
    expect(exp(second.t)).toBeGreaterThan(exp(first));
    expect(sent.filter((s) => s.url.pathname === "/auth/spa/token")).toHaveLength(2);
    expect(op.counts.refresh_token).toBeGreaterThanOrEqual(1);
  });

  it("tokenExchange fetch: Bearer token, no cookie, only to allowed origins; one retry with a new token after a 401", async () => {
    const { createSession } = await servedClient("spa");
    const r = await login(publicUrl, op, "spa");
    const sent: Sent[] = [];
    const jar = cookieJarFetch(() => `__Host-sg-spa=${r.session}`, sent);
    const strict = createSession({ origin: publicUrl, fetch: jar });
    await expect(strict.fetch(`${echo.url}/api`)).rejects.toThrow(/will not send a token/);
    expect(echo.requests).toHaveLength(0);

    const sg = createSession({ origin: publicUrl, fetch: jar, tokenOrigins: [echo.url] });
    const res = await sg.fetch(`${echo.url}/api/orders`, { headers: { "x-extra": "1" } });
    expect(res.status).toBe(200);
    const got = echo.requests.at(-1)!;
    expect(got.headers.authorization).toBe(`Bearer ${await sg.getToken()}`);
    expect(got.headers["x-extra"]).toBe("1");
    expect(got.headers.cookie).toBeUndefined();

    // An API on the BFF's origin that answers 401 (no cookie goes with a Bearer call).
    const before = sent.filter((s) => s.url.pathname === "/auth/spa/token").length;
    const denied = await sg.fetch(`${publicUrl}/auth/spa/session`);
    expect(denied.status).toBe(401);
    const after = sent.filter((s) => s.url.pathname === "/auth/spa/token").length;
    expect(after - before).toBe(1); // the forced renewal before the single retry
    expect(sent.filter((s) => s.url.pathname === "/auth/spa/session")).toHaveLength(2);
  });

  it("tokenExchange: after the session ends getToken() fails with no_session and onChange reports null", async () => {
    const { createSession, SessionGateError } = await servedClient("spa");
    const r = await login(publicUrl, op, "spa");
    const cookie = `__Host-sg-spa=${r.session}`;
    const sg = createSession({ origin: publicUrl, fetch: cookieJarFetch(() => cookie, []) });
    const seen: (string | null)[] = [];
    sg.onChange((info) => seen.push(info ? info.sub : null));
    expect((await sg.session())?.sub).toBe("alice");
    const t = await sg.getToken();
    // End the session server-side (as another tab's logout would).
    const out = await fetch(`${publicUrl}/auth/spa/logout`, {
      method: "POST",
      headers: { cookie, origin: publicUrl },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    const err = await sg.getToken({ forceRefresh: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SessionGateError);
    expect(err).toMatchObject({ status: 401, code: "no_session" });
    expect(seen).toEqual(["alice", null]);
    // The old token is not handed out again from memory.
    await expect(sg.getToken()).rejects.toMatchObject({ code: "no_session" });
    expect(t).toMatch(/^eyJ/);
  });
});
