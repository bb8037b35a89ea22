// invariants 2, 3 and 9 for the BFF by generation (test/bff/security.test.ts
// and invariant9.test.ts hold the fixed cases): open-redirect `return_to`
// variants, tampered login state, foreign `iss`, callbacks for another app,
// replayed codes. Each is refused with a 4xx JSON error or — for a return_to
// — lands on the app's own origin; nothing is written to Redis.
import { Buffer } from "node:buffer";
import fc from "fast-check";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunningBff } from "../../bff/index.js";
import { decrypt, type KeyRing } from "../../bff/session/crypto.js";
import { KEY1, setCookies, startLogin, startTwoAppBff } from "../bff/helpers.js";
import { OpBrowser, type OpHandle } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { returnToVariants } from "./bff/return-to.js";

const SEED = Number(process.env.BADINPUT_SEED ?? 20261123);
const RETURN_TO_N = 400;
const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", Buffer.from(KEY1, "base64")]]),
  hashKey: Buffer.alloc(0),
};

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
let rc: Redis;

/** Every key and value in Redis: "nothing written" means this string does not change. */
async function redisState(): Promise<string> {
  const keys = (await rc.keys("*")).sort();
  const out: string[] = [];
  for (const k of keys) out.push(`${k}=${(await rc.dumpBuffer(k))?.toString("hex")}`);
  return out.join("\n");
}

async function isJsonError(res: Response): Promise<boolean> {
  try {
    return typeof ((await res.json()) as { error?: unknown }).error === "string";
  } catch {
    return false;
  }
}

beforeAll(async () => {
  ({ op, bff, publicUrl, rc } = await startTwoAppBff());
});

describe("invariant 3: generated open-redirect return_to variants", () => {
  it(`${RETURN_TO_N} generated variants (seed ${SEED}), query-encoded and raw: refused with 400 invalid_return_to, or landing on the app's own origin; nothing in Redis`, {
    timeout: budget(120_000),
  }, async () => {
    const before = await redisState();
    const variants = fc.sample(returnToVariants(publicUrl), { seed: SEED, numRuns: RETURN_TO_N });
    const bad: string[] = [];
    let refused = 0;
    let accepted = 0;
    for (const v of variants) {
      for (const q of [encodeURIComponent(v), v.replace(/[#&\s%]/g, encodeURIComponent)]) {
        const res = await fetch(`${publicUrl}/auth/web/login?return_to=${q}`, { redirect: "manual" });
        if (res.status === 400) {
          refused++;
          const body = (await res.json()) as { error?: string };
          if (body.error !== "invalid_return_to")
            bad.push(`${JSON.stringify(v)}: 400 ${JSON.stringify(body)}`);
          if (res.headers.get("location") || res.headers.getSetCookie().length)
            bad.push(`${JSON.stringify(v)}: refused but redirected or set a cookie`);
          continue;
        }
        if (res.status !== 302) {
          bad.push(`${JSON.stringify(v)}: status ${res.status}`);
          continue;
        }
        // Accepted: where the browser lands after the callback is the sealed return_to.
        accepted++;
        const sealed = setCookies(res).get("__Host-sg-web-login")?.value ?? "";
        const r = (JSON.parse(decrypt(ring, sealed, "login:web")) as { r: string }).r;
        if (new URL(r).origin !== publicUrl) bad.push(`${JSON.stringify(v)}: accepted, lands on ${r}`);
      }
    }
    expect(bad).toEqual([]);
    expect(refused).toBeGreaterThan(RETURN_TO_N);
    expect(accepted + refused).toBe(2 * RETURN_TO_N);
    expect(await redisState()).toBe(before);
  });
});

describe("invariant 2: generated tampered callbacks", () => {
  /** A login up to the OP's redirect back, the callback not yet called. */
  async function pending(appId = "web") {
    const start = await startLogin(publicUrl, appId);
    const cb = await new OpBrowser(op.issuer).login(start.location, {
      username: "alice",
      password: "wonderland",
    });
    return { url: new URL(cb), loginCookie: start.loginCookie };
  }
  const call = (url: URL | string, cookie?: string) =>
    fetch(url, { redirect: "manual", headers: cookie ? { cookie } : {} });

  it("tampered login cookie or state, another app's callback: 400 JSON, no session cookie, nothing in Redis; the untouched callback then works once and its replay fails", {
    timeout: budget(120_000),
  }, async () => {
    const failures: string[] = [];
    for (let round = 0; round < 3; round++) {
      const p = await pending();
      const other = await startLogin(publicUrl, "web");
      const spa = await startLogin(publicUrl, "spa");
      const before = await redisState();
      const state = p.url.searchParams.get("state") ?? "";
      const attempts = fc.sample(
        fc.oneof(
          // The sealed login cookie with a byte flipped, cut, extended or re-encoded.
          fc.tuple(fc.nat(), fc.integer({ min: 1, max: 60 })).map(([at, d]) => {
            const c = p.loginCookie;
            const i = at % c.length;
            const flipped = c.slice(0, i) + (c[i] === "A" ? "B" : "A") + c.slice(i + 1);
            return {
              name: `login cookie: flip at ${i}, cut ${d}`,
              url: p.url.href,
              cookie: [flipped, c.slice(0, -d), `${c}${"A".repeat(d)}`][at % 3],
            };
          }),
          fc.constantFrom(
            { name: "no login cookie", url: p.url.href, cookie: "" },
            { name: "another login's cookie", url: p.url.href, cookie: other.loginCookie },
            { name: "the other app's login cookie", url: p.url.href, cookie: spa.loginCookie },
            { name: "empty login cookie", url: p.url.href, cookie: "" },
          ),
          // The state parameter changed, doubled, emptied or dropped.
          fc.tuple(fc.string({ minLength: 0, maxLength: 60 }), fc.nat({ max: 3 })).map(([junk, how]) => {
            const u = new URL(p.url.href);
            if (how === 0) u.searchParams.set("state", junk === state ? `${junk}x` : junk);
            else if (how === 1) u.searchParams.append("state", state);
            else if (how === 2) u.searchParams.delete("state");
            else u.searchParams.set("state", `${state.slice(0, -1)}${state.endsWith("A") ? "B" : "A"}`);
            return {
              name: `state ${["changed", "doubled", "dropped", "one char off"][how]}`,
              url: u.href,
              cookie: p.loginCookie,
            };
          }),
          // The callback for another app, with this login's cookie under that app's name.
          fc.constant({
            name: "another app's callback",
            url: p.url.href.replace("/auth/web/", "/auth/spa/"),
            cookie: p.loginCookie,
            app: "spa",
          }),
        ),
        { seed: SEED + round, numRuns: 25 },
      );
      for (const a of attempts) {
        const app = (a as { app?: string }).app ?? "web";
        const res = await call(a.url, a.cookie ? `__Host-sg-${app}-login=${a.cookie}` : undefined);
        const cookies = setCookies(res);
        if (
          res.status !== 400 ||
          !(await isJsonError(res)) ||
          cookies.has("__Host-sg-web") ||
          cookies.has("__Host-sg-spa")
        )
          failures.push(
            `${a.name}: ${res.status}, session cookie set: ${cookies.has("__Host-sg-web") || cookies.has("__Host-sg-spa")}`,
          );
      }
      if ((await redisState()) !== before)
        failures.push(`round ${round}: Redis changed by refused callbacks`);
      // The genuine callback was never consumed by the refusals: it works once…
      const ok = await call(p.url, `__Host-sg-web-login=${p.loginCookie}`);
      if (ok.status !== 200 || !setCookies(ok).has("__Host-sg-web"))
        failures.push(`round ${round}: genuine callback ${ok.status}`);
      // …and its replay is refused without a write.
      const afterLogin = await redisState();
      const replay = await call(p.url, `__Host-sg-web-login=${p.loginCookie}`);
      if (replay.status !== 400 || !(await isJsonError(replay)) || setCookies(replay).has("__Host-sg-web"))
        failures.push(`round ${round}: replay answered ${replay.status}`);
      if ((await redisState()) !== afterLogin) failures.push(`round ${round}: Redis changed by the replay`);
    }
    expect(failures).toEqual([]);
    expect((await fetch(`${bff.internalUrl}/healthz`)).status).toBe(200);
  });

  it("RFC 9207: a callback with a foreign iss is refused with 400 JSON and writes nothing; the genuine callback then still works", {
    timeout: budget(60_000),
  }, async () => {
    const failures: string[] = [];
    const p = await pending();
    const isses = fc.sample(
      fc.constantFrom(
        "https://evil.example",
        `${op.issuer}/`,
        op.issuer.toUpperCase(),
        op.issuer.replace(/:(\d+)$/, (_m, n) => `:${Number(n) + 1}`),
        op.issuer.replace("http:", "https:"),
        "",
        "null",
      ),
      { seed: SEED, numRuns: 6 },
    );
    const keysBefore = new Set(await rc.keys("*"));
    for (const iss of isses) {
      const u = new URL(p.url.href);
      u.searchParams.set("iss", iss);
      const res = await call(u, `__Host-sg-web-login=${p.loginCookie}`);
      const cookies = setCookies(res);
      if (res.status !== 400 || !(await isJsonError(res)) || cookies.has("__Host-sg-web"))
        failures.push(`iss ${JSON.stringify(iss)}: ${res.status}`);
    }
    // iss is checked before the state's one-time marker is written: nothing at all.
    expect((await rc.keys("*")).filter((k) => !keysBefore.has(k))).toEqual([]);
    // So a mix-up attempt cannot use up the state: the genuine callback still logs in.
    const after = await call(p.url, `__Host-sg-web-login=${p.loginCookie}`);
    expect(after.status).toBe(200);
    expect(setCookies(after).has("__Host-sg-web")).toBe(true);
    expect(failures).toEqual([]);
  });
});
