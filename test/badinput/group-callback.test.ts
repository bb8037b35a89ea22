// Invariants 2 and 9 for an app group's callback and login state, by
// generation (the fixed cases through Envoy are in test/e2e/app-group.test.ts):
// a real login in progress for app "cart" of group "shop", then its callback
// with the login cookie tampered (bit flips, truncations, another group's or
// app's state), the query mutated (state, code, iss, duplicates, garbage), and
// the group login with bad app / prompt / return_to values. Each is a 4xx JSON
// error, never a 5xx, and nothing is written to Redis; the genuine callback
// still works afterwards, once.
import { Buffer } from "node:buffer";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { openGroupLogins, sealGroupLogins } from "../../bff/oidc/group-state.js";
import type { KeyRing } from "../../bff/session/crypto.js";
import { bffConfig, KEY1, ports, setCookies } from "../bff/helpers.js";
import { OpBrowser, type OpHandle, onCleanup, startOP, startRedis } from "../harness/index.js";
import { budget } from "../harness/slowness.js";

const SEED = Number(process.env.BADINPUT_SEED ?? 20261201);
const N = 150;
const GROUP = "shop";
const APPS = ["cart", "catalog", "shell"];
const LOGIN_COOKIE = `__Host-sg-_g-${GROUP}-login`;
const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", Buffer.from(KEY1, "base64")]]),
  hashKey: Buffer.alloc(0),
};

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let rc: Redis;
let cookie = "";
let callbackQuery = "";

async function redisState(): Promise<string> {
  const keys = (await rc.keys("*")).sort();
  const out: string[] = [];
  for (const k of keys) out.push(`${k}=${(await rc.dumpBuffer(k))?.toString("hex")}`);
  return out.join("\n");
}

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  const { Redis: RedisClient } = await import("ioredis");
  rc = new RedisClient(redis.url);
  onCleanup(() => rc.disconnect());
  op = await startOP({
    clients: [
      {
        client_id: "client-shop",
        client_secret: "shop-secret",
        redirect_uris: [`${publicUrl}/auth/_group/${GROUP}/callback`],
        post_logout_redirect_uris: [`${publicUrl}/auth/_group/${GROUP}/logout/callback`],
      },
    ],
    ttl: 120,
    skipConsent: true,
  });
  const cfg = bffConfig({
    publicPort,
    redisUrl: redis.url,
    issuer: op.issuer,
    apps: APPS.map((id) => ({ id, mode: "bff" as const, secret: "shop-secret" })),
  });
  for (const a of cfg.apps as Record<string, unknown>[])
    Object.assign(a, { client_id: "client-shop", group: GROUP });
  bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
  onCleanup(() => bff.close());
  // One real login in progress, answered by the OP.
  const start = await fetch(`${publicUrl}/auth/_group/${GROUP}/login?app=cart&return_to=/cart`, {
    redirect: "manual",
  });
  expect(start.status).toBe(302);
  cookie = setCookies(start).get(LOGIN_COOKIE)?.value ?? "";
  const back = new URL(
    await new OpBrowser(op.issuer).login(start.headers.get("location") ?? "", {
      username: "alice",
      password: "wonderland",
    }),
  );
  expect(back.pathname).toBe(`/auth/_group/${GROUP}/callback`);
  callbackQuery = back.search;
}, budget(60_000));

/** A string with one of its characters replaced, cut, or grown. */
const mutated = (s: string) =>
  fc.oneof(
    fc
      .nat({ max: s.length - 1 })
      .chain((i) =>
        fc
          .constantFrom(...("AZaz09-_.~%=&;\u0000\u00e9".split("") as string[]))
          .map((c) => s.slice(0, i) + c + s.slice(i + 1)),
      ),
    fc.nat({ max: s.length }).map((i) => s.slice(0, i)),
    fc.string({ maxLength: 40 }).map((x) => s + x),
  );

describe("invariants 2 and 9: an app group's callback and login state, generated", () => {
  it(`${N} tampered login cookies, ${N} mutated callback queries, and bad group logins (seed ${SEED}): 4xx JSON errors, nothing written; the genuine callback works once`, {
    timeout: budget(180_000),
  }, async () => {
    const before = await redisState();
    const bad: string[] = [];
    const expect4xx = async (what: string, res: Response) => {
      const body = await res.text();
      let json: { error?: unknown } = {};
      try {
        json = JSON.parse(body);
      } catch {}
      if (res.status < 400 || res.status >= 500 || typeof json.error !== "string")
        bad.push(`${what}: ${res.status} ${body.slice(0, 120)}`);
    };
    const call = (query: string, c: string | null) =>
      fetch(`${publicUrl}/auth/_group/${GROUP}/callback${query}`, {
        redirect: "manual",
        headers: c === null ? {} : { cookie: `${LOGIN_COOKIE}=${c}` },
      });

    // The login cookie: tampered bytes, another group's seal, other apps' and expired states.
    const opened = openGroupLogins(ring, GROUP, cookie);
    expect(opened?.map((l) => l.app)).toEqual(["cart"]);
    const login = opened![0];
    const forged = [
      sealGroupLogins(ring, "other", [login]),
      sealGroupLogins(ring, GROUP, [{ ...login, state: `${login.state}x` }]),
      sealGroupLogins(ring, GROUP, [{ ...login, app: "solo" }]),
      sealGroupLogins(ring, GROUP, [{ ...login, expiresAt: Date.now() - 1 }]),
      "",
      "v1.k9.AAAA.BBBB",
    ];
    // base64url decoding skips characters outside its alphabet: a mutation that only adds such
    // characters is the genuine cookie spelt otherwise, not a tampered one.
    const bytes = (c: string) =>
      c
        .split(".")
        .map((p) => Buffer.from(p, "base64url").toString("hex"))
        .join(".");
    const header = (c: string) => c.replace(/[^\x21-\x3a\x3c-\x7e]/g, "");
    for (const c of [...forged, ...fc.sample(mutated(cookie), { seed: SEED, numRuns: N }).map(header)]) {
      if (bytes(c) === bytes(cookie)) continue;
      await expect4xx(`cookie ${JSON.stringify(c.slice(0, 40))}…`, await call(callbackQuery, c));
    }
    // The query: another state, a foreign iss, duplicates, no state, garbage.
    const q = new URLSearchParams(callbackQuery);
    const queries = [
      `?code=${q.get("code")}&state=${q.get("state")}x&iss=${encodeURIComponent(q.get("iss") ?? "")}`,
      `${callbackQuery}&iss=${encodeURIComponent("https://evil.example")}`,
      `${callbackQuery}&state=${q.get("state")}`,
      `?code=${q.get("code")}`,
      "",
      ...fc.sample(mutated(callbackQuery), { seed: SEED + 1, numRuns: N }).filter((x) => {
        const m = new URLSearchParams(x);
        // A mutation that leaves state and iss as they were is the genuine callback with another code.
        return (
          m.get("state") !== q.get("state") ||
          m.getAll("state").length !== 1 ||
          m.getAll("iss").length > 1 ||
          (m.has("iss") && m.get("iss") !== q.get("iss"))
        );
      }),
    ];
    for (const x of queries)
      await expect4xx(`query ${JSON.stringify(x.slice(0, 60))}`, await call(x, cookie));
    await expect4xx("no login cookie", await call(callbackQuery, null));
    // The group's login and advice: apps outside the group, bad prompt and return_to, unknown groups.
    for (const path of [
      `/auth/_group/${GROUP}/login?app=solo`,
      `/auth/_group/${GROUP}/login?app=`,
      `/auth/_group/${GROUP}/login?app=cart&prompt=login`,
      `/auth/_group/${GROUP}/login?app=cart&return_to=${encodeURIComponent("//evil.example/")}`,
      `/auth/_group/${GROUP}/session?app=nope`,
      `/auth/_group/${GROUP}/logout/callback?state=nope`,
      `/auth/_group/other/login?app=cart`,
      `/auth/_group/Shop/login?app=cart`,
      `/auth/_group/${GROUP}/nothing`,
    ])
      await expect4xx(path, await fetch(`${publicUrl}${path}`, { redirect: "manual" }));
    expect(bad).toEqual([]);
    expect(await redisState()).toBe(before);

    // The genuine callback still works, once.
    const ok = await call(callbackQuery, cookie);
    expect(ok.status).toBe(200);
    expect(setCookies(ok).get("__Host-sg-cart")?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const again = await call(callbackQuery, cookie);
    expect(again.status).toBe(400);
  });
});
