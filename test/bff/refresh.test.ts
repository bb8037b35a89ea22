// Refresh single-flight across two BFF processes sharing one Redis, with refresh
// token rotation on at the OP (a second use of the old refresh token would make
// the OP revoke the grant, so exactly one refresh must happen).
import { beforeAll, describe, expect, it } from "vitest";
import { type ManagedProcess, type OpHandle, startOP, startRedis, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import {
  bffConfig,
  internalToken,
  json,
  login,
  metric,
  opClient,
  ports,
  sleep,
  startBffProcess,
  type TestApp,
} from "./helpers.js";

const APP: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const TTL = 15; // OP access-token lifetime (s)
const SKEW = 11; // BFF refresh skew (s): a token is due 4 s after it was issued, and fresh for 4 s after a refresh

let op: OpHandle;
let pubA: string;
let intA: string;
let intB: string;
let adminA: string;
let adminB: string;
let procs: ManagedProcess[] = [];

beforeAll(async () => {
  const [pa, ia, pb, ib, aa, ab] = await ports(6);
  adminA = `http://127.0.0.1:${aa}`;
  adminB = `http://127.0.0.1:${ab}`;
  pubA = `http://127.0.0.1:${pa}`;
  intA = `http://127.0.0.1:${ia}`;
  intB = `http://127.0.0.1:${ib}`;
  const redis = await startRedis();
  op = await startOP({ clients: [opClient(pubA, APP)], ttl: TTL, rotateRefreshToken: true });
  const base = { redisUrl: redis.url, issuer: op.issuer, apps: [APP], skew: SKEW };
  // Both replicas use A's public URL as redirect_uri, as replicas behind one Envoy would.
  const cfgA = bffConfig({ ...base, publicPort: pa, internalPort: ia, adminPort: aa });
  const cfgB = bffConfig({ ...base, publicPort: pa, internalPort: ib, adminPort: ab });
  (cfgB.public as { listen: string }).listen = `127.0.0.1:${pb}`;
  // info level, so the log check below has real lines to look at.
  cfgA.log_level = "info";
  cfgB.log_level = "info";
  procs = await Promise.all([startBffProcess("bff-a", cfgA, intA), startBffProcess("bff-b", cfgB, intB)]);
}, budget(60_000));

describe("refresh single-flight", () => {
  it("two BFF processes, 50 concurrent internal-token requests on an expiring session: one refresh at the OP, all served (the new token, or the still-valid old one)", {
    timeout: budget(60_000),
  }, async () => {
    const r = await login(pubA, op, "web");
    const first = await json(await internalToken(intA, "web", r.session));
    expect(first.expires_in).toBeGreaterThan(SKEW);
    await sleep((TTL - SKEW) * 1000 + 300);
    const before = { ...op.counts };
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        internalToken(i % 2 ? intB : intA, "web", r.session).then(async (res) => ({
          status: res.status,
          body: await json(res),
        })),
      ),
    );
    expect(results.map((x) => x.status)).toEqual(Array(50).fill(200));
    // The winner's new token, and for the calls that found the refresh under way
    // the old one, still valid (they are not held waiting on the OP).
    const tokens = new Set(results.map((x) => x.body.access_token));
    const next = await json(await internalToken(intB, "web", r.session));
    expect(next.access_token).not.toBe(first.access_token);
    expect(next.expires_in).toBeGreaterThan(SKEW);
    expect(tokens.has(next.access_token)).toBe(true);
    expect([...tokens].every((t) => t === next.access_token || t === first.access_token)).toBe(true);
    expect(op.counts.refresh_token - before.refresh_token).toBe(1);
    expect(op.counts.grant_revoked - before.grant_revoked).toBe(0);
    expect(
      (await metric(adminA, 'sessiongate_bff_refreshes_total{app="web",result="ok"}')) +
        (await metric(adminB, 'sessiongate_bff_refreshes_total{app="web",result="ok"}')),
    ).toBe(1);
    // The rotated refresh token was stored: the next refresh works too.
    await sleep((TTL - SKEW) * 1000 + 300);
    const again = await Promise.all(
      Array.from({ length: 10 }, (_, i) => internalToken(i % 2 ? intB : intA, "web", r.session)),
    );
    expect(again.map((x) => x.status)).toEqual(Array(10).fill(200));
    expect(op.counts.refresh_token - before.refresh_token).toBe(2);
    expect(op.counts.grant_revoked - before.grant_revoked).toBe(0);
    // The replicas' JSON logs never carry the session id or a token.
    const logs = procs.map((p) => p.log()).join("\n");
    expect(logs).toMatch(/"msg":"sessiongate BFF listening"/);
    expect(logs).not.toContain(r.session);
    expect(logs).not.toContain(first.access_token);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
  });

  it("OP down during a due refresh: the still-valid token is served until it expires, then 502 (never a pass or a 401); the session survives", {
    timeout: budget(60_000),
  }, async () => {
    const r = await login(pubA, op, "web");
    const issued = await json(await internalToken(intA, "web", r.session));
    await sleep((TTL - SKEW) * 1000 + 300);
    await op.pause();
    try {
      // Due for refresh, but valid for up to SKEW more seconds: served as it is.
      const early = await internalToken(intA, "web", r.session);
      expect(early.status).toBe(200);
      const body = await json(early);
      expect(body.access_token).toBe(issued.access_token);
      expect(body.expires_in).toBeLessThanOrEqual(SKEW);
      // Once it has expired, the error: idp_unavailable.
      await sleep((body.expires_in as number) * 1000 + 1000);
      const res = await internalToken(intA, "web", r.session);
      expect(res.status).toBe(502);
      expect((await json(res)).error).toBe("idp_unavailable");
    } finally {
      await op.start();
    }
    // Back by itself once the session's refresh backoff (after those failures, at most
    // timeouts.refresh_backoff_max_ms, 10 s by default) has passed.
    const ok = await waitFor(
      "the session served again",
      async () => {
        const res = await internalToken(intB, "web", r.session);
        return res.status === 200 ? await json(res) : undefined;
      },
      20_000,
      200,
    );
    expect(ok.access_token).not.toBe(issued.access_token);
  });
});
