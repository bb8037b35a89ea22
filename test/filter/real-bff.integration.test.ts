// The filter against the real BFF (bff/), a real OP and Redis: a logged-in
// session's cookie becomes the OP-signed access token at the upstream, the
// cache saves the BFF round trip, and a logout stops the token working at the
// edge within cache.max_ttl_s.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { bffConfig, login, opClient, ports, type TestApp } from "../bff/helpers.js";
import {
  type EchoHandle,
  type EnvoyHandle,
  type OpHandle,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startOP,
  startRedis,
} from "../harness/index.js";
import { ensureWasm } from "./wasm-build.js";

const APP: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const KEY = "internal-key-0123456789";
const MAX_TTL_S = 2;

let op: OpHandle;
let bff: RunningBff;
let echo: EchoHandle;
let envoy: EnvoyHandle;
let publicUrl: string;
let edge: string;

const bffCalls = async () =>
  (await envoy.stats()).get("cluster.sessiongate_bff_internal.upstream_rq_total") ?? 0;

beforeAll(async () => {
  ensureWasm();
  const [publicPort, internalPort, listenPort] = await ports(3);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  op = await startOP({ clients: [opClient(publicUrl, APP)], ttl: 120 });
  const cfg = bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [APP] });
  cfg.internal = { listen: `127.0.0.1:${internalPort}`, key: KEY };
  bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
  echo = await startEcho();
  envoy = await startEnvoy({
    file: `${REPO_ROOT}/envoy/wasm-filter.yaml`,
    name: "envoy-realbff",
    vars: {
      LISTEN_PORT: listenPort,
      ECHO_PORT: echo.port,
      BFF_PORT: internalPort,
      FILTER_CONFIG: JSON.stringify({
        bff_internal_key: KEY,
        cache: { max_ttl_s: MAX_TTL_S },
        apps: [{ id: "web", hosts: ["*"] }],
      }),
    },
  });
  edge = `http://127.0.0.1:${listenPort}`;
});

afterAll(async () => {
  await bff?.close();
});

describe("session-to-token with the real BFF", () => {
  it("swaps a logged-in session for the OP's access token, then serves it from the cache", async () => {
    const { session } = await login(publicUrl, op, "web");
    const cookie = `theme=dark; __Host-sg-web=${session}`;
    const res = await fetch(`${edge}/api/me`, { headers: { cookie } });
    expect(res.status).toBe(200);
    const got = echo.requests.at(-1)!;
    expect(got.headers.cookie).toBe("theme=dark");
    const at = String(got.headers.authorization).replace(/^Bearer /, "");
    const { payload } = await jwtVerify(at, createRemoteJWKSet(new URL(op.jwksUri)), { issuer: op.issuer });
    expect(payload.sub).toBe("alice");
    expect(await bffCalls()).toBe(1);

    const again = await fetch(`${edge}/api/me`, { headers: { cookie } });
    expect(again.status).toBe(200);
    expect(echo.requests.at(-1)!.headers.authorization).toBe(`Bearer ${at}`);
    expect(await bffCalls()).toBe(1);

    // Logout deletes the session; the edge cache may serve the token for at
    // most max_ttl_s more, then the cookie gets 401 + clearing.
    const out = await fetch(`${publicUrl}/auth/web/logout`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie: `__Host-sg-web=${session}`, origin: publicUrl },
    });
    expect(out.status).toBe(303);
    await new Promise((r) => setTimeout(r, MAX_TTL_S * 1000 + 200));
    const after = await fetch(`${edge}/api/me`, { headers: { cookie } });
    expect(after.status).toBe(401);
    expect(after.headers.get("set-cookie")).toMatch(/^__Host-sg-web=; Max-Age=0/);
    expect(await bffCalls()).toBe(2);
  });

  it("answers 401 for a session the BFF does not know", async () => {
    const res = await fetch(`${edge}/api/me`, { headers: { cookie: `__Host-sg-web=${"x".repeat(43)}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: "no_session" });
  });
});
