// Redis killed and restarted mid-test: 503 with a JSON body naming the cause while it
// is down, /readyz fails, and service resumes by itself (ioredis reconnects).
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { type OpHandle, type RedisHandle, startOP, startRedis, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { bffConfig, internalToken, json, login, opClient, ports, type TestApp } from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
let op: OpHandle;
let redis: RedisHandle;
let bff: RunningBff;
let publicUrl: string;

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  redis = await startRedis();
  op = await startOP({ clients: [opClient(publicUrl, WEB)] });
  bff = await startBff(
    validateConfig(bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB] })),
    { defaultMetrics: false },
  );
});

afterAll(async () => {
  await bff?.close();
});

describe("Redis outage", () => {
  it("503 naming the cause while Redis is down, recovery by itself when it is back", {
    timeout: budget(45_000),
  }, async () => {
    const r = await login(publicUrl, op, "web");
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(200);
    expect((await fetch(`${bff.internalUrl}/readyz`)).status).toBe(200);

    await redis.kill();
    const down = await internalToken(bff.internalUrl, "web", r.session);
    expect(down.status).toBe(503);
    const body = await json(down);
    expect(body.error).toBe("session_store_unavailable");
    expect(body.error_description).toMatch(/^redis: /);
    const pub = await fetch(`${publicUrl}/auth/web/session`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
    });
    expect(pub.status).toBe(503);
    expect((await json(pub)).error).toBe("session_store_unavailable");
    const ready = await fetch(`${bff.internalUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect((await json(ready)).error).toBe("session_store_unavailable");
    expect((await fetch(`${bff.internalUrl}/healthz`)).status).toBe(200);
    // A callback can't store the session: 503, not a half-made login.
    await expect(login(publicUrl, op, "web")).rejects.toThrow(/callback answered 503/);
    const metrics = await (await fetch(`${bff.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/sessiongate_bff_redis_errors_total [1-9]/);
    expect(metrics).toMatch(/sessiongate_bff_redis_up 0/);
    expect(metrics).toMatch(
      /sessiongate_bff_http_request_duration_seconds_count\{(?=[^}]*route="session-token")(?=[^}]*status="503")[^}]*\} [1-9]/,
    );

    await redis.restart();
    await waitFor(
      "readyz after Redis restart",
      async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200,
      15_000,
    );
    // This Redis has no persistence, so the old session is gone: a clean 401, then a new login works.
    expect((await internalToken(bff.internalUrl, "web", r.session)).status).toBe(401);
    const again = await login(publicUrl, op, "web");
    expect((await internalToken(bff.internalUrl, "web", again.session)).status).toBe(200);
  });
});

describe("identity provider outage", () => {
  it("login gives 502 JSON while the OP is unreachable and works once it is back (discovery retried)", async () => {
    const [publicPort] = await ports(1);
    const url = `http://127.0.0.1:${publicPort}`;
    const op2 = await startOP({ clients: [opClient(url, WEB)] });
    await op2.pause();
    const cfg = bffConfig({ publicPort, redisUrl: redis.url, issuer: op2.issuer, apps: [WEB] });
    const b = await startBff(validateConfig(cfg), { defaultMetrics: false });
    try {
      const res = await fetch(`${url}/auth/web/login`, { redirect: "manual" });
      expect(res.status).toBe(502);
      const body = await json(res);
      expect(body.error).toBe("idp_unavailable");
      expect(body.error_description).toMatch(/identity provider unreachable/);
      await op2.start();
      const r = await login(url, op2, "web");
      expect((await internalToken(b.internalUrl, "web", r.session)).status).toBe(200);
    } finally {
      await b.close();
    }
  });
});

describe("identity provider down when the BFF starts", () => {
  it("a due session's refresh, discovery included, backs off and serves the still-valid token", async () => {
    const [publicPort, internalPort] = await ports(2);
    const url = `http://127.0.0.1:${publicPort}`;
    const ttl = 14;
    const op2 = await startOP({ clients: [opClient(url, WEB)], ttl });
    // Refresh due 1 s after issue; the token stays valid 13 s more.
    const cfg = bffConfig({
      publicPort,
      internalPort,
      redisUrl: redis.url,
      issuer: op2.issuer,
      apps: [WEB],
      skew: 13,
    });
    const first = await startBff(validateConfig(cfg), { defaultMetrics: false });
    const r = await login(url, op2, "web");
    const issued = await json(await internalToken(first.internalUrl, "web", r.session));
    const issuedBy = Date.now();
    const token = issued.access_token as string;
    expect(token).toMatch(/^ey/);
    await first.close();
    await op2.pause();
    const rc = new Redis(redis.url);
    // A new process: it has not discovered the OP yet.
    const b = await startBff(validateConfig(cfg), { defaultMetrics: false });
    try {
      const retryKeys = () => rc.keys("sg:s:{*}:retry");
      expect(await retryKeys()).toEqual([]);
      await waitFor("the refresh to be due", async () => Date.now() > issuedBy + 1_100);
      const res = await internalToken(b.internalUrl, "web", r.session);
      expect(res.status).toBe(200);
      expect((await json(res)).access_token).toBe(token);
      expect(await retryKeys()).toHaveLength(1);
      const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/sessiongate_bff_refreshes_total\{app="web",result="op_error"\} [1-9]/);
    } finally {
      rc.disconnect();
      await b.close();
    }
  });
});

describe("Redis down at start-up", () => {
  it("the BFF starts anyway, /readyz is 503 until Redis appears, then it serves", {
    timeout: budget(30_000),
  }, async () => {
    const [publicPort, redisPort] = await ports(2);
    const url = `http://127.0.0.1:${publicPort}`;
    const op3 = await startOP({ clients: [opClient(url, WEB)] });
    const cfg = bffConfig({
      publicPort,
      redisUrl: `redis://127.0.0.1:${redisPort}`,
      issuer: op3.issuer,
      apps: [WEB],
    });
    const b = await startBff(validateConfig(cfg), { defaultMetrics: false });
    try {
      expect((await fetch(`${b.internalUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${b.internalUrl}/readyz`)).status).toBe(503);
      const res = await internalToken(b.internalUrl, "web", "A".repeat(43));
      expect(res.status).toBe(503);
      expect((await json(res)).error).toBe("session_store_unavailable");
      await startRedis({ port: redisPort });
      await waitFor("readyz", async () => (await fetch(`${b.internalUrl}/readyz`)).status === 200, 15_000);
      const r = await login(url, op3, "web");
      expect((await internalToken(b.internalUrl, "web", r.session)).status).toBe(200);
    } finally {
      await b.close();
    }
  });
});
