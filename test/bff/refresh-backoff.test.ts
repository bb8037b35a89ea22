// Backoff between failed refreshes (bff/oidc/refresh-backoff.ts), shared by two
// BFF replicas through one real Redis, against the real harness OP whose token
// endpoint is made to fail (500, then malformed JSON). Without the backoff every
// call for a due session asks the OP again: hundreds of calls a second at load.
import { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { backoffDelayMs, LAST_CHANCE_MS, nextAttemptAt } from "../../bff/oidc/refresh-backoff.js";
import { type OpHandle, onCleanup, startOP, startRedis, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { bffConfig, internalToken, json, login, opClient, ports, type TestApp } from "./helpers.js";

const APP: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const TTL = 14; // access-token lifetime (s)
const SKEW = 10; // refresh due 4 s after issue, token valid 10 s more
const BACKOFF_MS = 1000;
const BACKOFF_MAX_MS = 3000;

let op: OpHandle;
let rc: Redis;
let pub: string;
let internals: string[] = [];
let bffs: RunningBff[] = [];

beforeAll(async () => {
  const [pa, ia, pb, ib] = await ports(4);
  pub = `http://127.0.0.1:${pa}`;
  const redis = await startRedis();
  rc = new Redis(redis.url);
  onCleanup(() => rc.disconnect());
  op = await startOP({ clients: [opClient(pub, APP)], ttl: TTL, rotateRefreshToken: true });
  const extra = {
    log_level: "error",
    timeouts: {
      op_ms: 3000,
      refresh_wait_ms: 10_000,
      refresh_backoff_ms: BACKOFF_MS,
      refresh_backoff_max_ms: BACKOFF_MAX_MS,
    },
  };
  const base = { redisUrl: redis.url, issuer: op.issuer, apps: [APP], skew: SKEW, extra };
  const cfgA = bffConfig({ ...base, publicPort: pa, internalPort: ia });
  // Replica B shares A's redirect_uri, as replicas behind one Envoy would.
  const cfgB = bffConfig({ ...base, publicPort: pa, internalPort: ib });
  (cfgB.public as { listen: string }).listen = `127.0.0.1:${pb}`;
  bffs = await Promise.all([cfgA, cfgB].map((c) => startBff(validateConfig(c), { defaultMetrics: false })));
  for (const b of bffs) onCleanup(() => b.close());
  internals = [`http://127.0.0.1:${ia}`, `http://127.0.0.1:${ib}`];
}, budget(60_000));

/** One internal-token call every `everyMs` for `ms`, alternating replicas. */
async function callFor(session: string, ms: number, everyMs = 20) {
  const out: { status: number; body: Record<string, unknown> }[] = [];
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const res = await internalToken(internals[i % 2], APP.id, session);
    out.push({ status: res.status, body: await json(res) });
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return out;
}

const retryRecord = async () => {
  const keys = await rc.keys("sg:s:{*}:retry");
  return keys.length ? await rc.get(keys[0]) : null;
};

describe("refresh backoff", () => {
  it("delays double per failure in a row up to the cap, each jittered to between half and all of it", () => {
    const r = { skewS: 0, opTimeoutMs: 0, refreshWaitMs: 0, backoffMs: 1000, backoffMaxMs: 8000 };
    expect([1, 2, 3, 4, 5, 40].map((n) => backoffDelayMs(r, n, 0.999_999))).toEqual([
      1000, 2000, 4000, 8000, 8000, 8000,
    ]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(r, n, 0))).toEqual([500, 1000, 2000, 4000, 4000]);
  });

  it("refuses a backoff cap below the first delay, naming the field", () => {
    const cfg = (timeouts: Record<string, number>) =>
      bffConfig({
        publicPort: 1,
        redisUrl: "redis://127.0.0.1:1",
        issuer: "http://127.0.0.1:1",
        apps: [APP],
        extra: { timeouts },
      });
    expect(() => validateConfig(cfg({ refresh_backoff_ms: 5000, refresh_backoff_max_ms: 1000 }))).toThrow(
      /timeouts\.refresh_backoff_max_ms/,
    );
    expect(() => validateConfig(cfg({ refresh_backoff_ms: -1 }))).toThrow(/timeouts\.refresh_backoff_ms/);
    const ok = validateConfig(cfg({}));
    expect([ok.refreshBackoffMs, ok.refreshBackoffMaxMs]).toEqual([1000, 10_000]);
  });

  it("never backs off past a last attempt 3 s before the token expires, and after it waits only the first delay", () => {
    const r = { skewS: 0, opTimeoutMs: 0, refreshWaitMs: 0, backoffMs: 1000, backoffMaxMs: 8000 };
    const now = 1_000_000;
    expect(nextAttemptAt(r, 4, now + 60_000, now, 0.999_999)).toBe(now + 8000);
    expect(nextAttemptAt(r, 4, now + 5000, now, 0.999_999)).toBe(now + 5000 - LAST_CHANCE_MS);
    // Past the last chance (or expired): the first delay again, however many failures.
    expect(nextAttemptAt(r, 1, now + 2000, now, 0.999_999)).toBe(now + 1000);
    expect(nextAttemptAt(r, 6, now - 5000, now, 0.999_999)).toBe(now + 1000);
  });

  it("a failing token endpoint is asked once per backoff delay for a session, whichever replica is called; the still-valid token is served meanwhile and the session fails closed (502) once it has expired", {
    timeout: budget(90_000),
  }, async () => {
    const { session } = await login(pub, op, APP.id);
    const issued = await json(await internalToken(internals[0], APP.id, session));
    expect(issued.expires_in).toBeGreaterThan(SKEW);
    op.tokenFault = { status: 500, contentType: "text/html", body: "<html>Internal Server Error</html>" };
    try {
      // Wait (calling) until the refresh is due and has failed once: the backoff is in Redis.
      await waitFor(
        "the first failed refresh",
        async () => (await internalToken(internals[0], APP.id, session)).ok && op.counts.token_faulted > 0,
        20_000,
        100,
      );
      expect(await retryRecord()).toMatch(/^1:\d+$/);
      const asked0 = op.counts.token_faulted;
      const t0 = Date.now();
      const early = await callFor(session, 5000);
      const window = (Date.now() - t0) / 1000;
      const asked = op.counts.token_faulted - asked0;
      // ~240 calls in the window; with no backoff each one would have asked the OP.
      expect(early.length).toBeGreaterThan(50);
      expect(early.every((r) => r.status === 200 && r.body.access_token === issued.access_token)).toBe(true);
      // Delays of at least 0.5, 1, 1.5, 1.5 … s: at most 1 + window / 0.5 s; and it does retry.
      expect(asked).toBeGreaterThanOrEqual(2);
      expect(asked).toBeLessThanOrEqual(1 + Math.ceil(window / (BACKOFF_MS / 2 / 1000)));
      expect(Number((await retryRecord())?.split(":")[0])).toBeGreaterThanOrEqual(2);

      // Malformed JSON now; once the token has expired: 502, never the expired token, never a 401.
      op.tokenFault = { status: 200, body: '{"access_token":"eyJhbGciOi","expires_in":' };
      await waitFor(
        "the access token to expire",
        async () => (await internalToken(internals[1], APP.id, session)).status === 502,
        20_000,
        200,
      );
      const asked1 = op.counts.token_faulted;
      const t1 = Date.now();
      const late = await callFor(session, 3000);
      const lateWindow = (Date.now() - t1) / 1000;
      expect(late.every((r) => r.status === 502 && r.body.error === "idp_unavailable")).toBe(true);
      expect(op.counts.token_faulted - asked1).toBeLessThanOrEqual(
        1 + Math.ceil(lateWindow / (BACKOFF_MS / 2 / 1000)),
      );
    } finally {
      op.tokenFault = null;
    }
    // Recovery by itself, within the cap: then one refresh for 40 concurrent calls on both replicas.
    const refreshed0 = op.counts.refresh_token;
    await waitFor(
      "the session served again",
      async () => (await internalToken(internals[0], APP.id, session)).ok,
      BACKOFF_MAX_MS + 5000,
      100,
    );
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => internalToken(internals[i % 2], APP.id, session).then(json)),
    );
    expect(new Set(burst.map((b) => b.access_token)).size).toBe(1);
    expect(burst[0].access_token).not.toBe(issued.access_token);
    expect(op.counts.refresh_token - refreshed0).toBe(1);
    expect(op.counts.grant_revoked).toBe(0);
    expect(await retryRecord()).toBeNull();
  });
});
