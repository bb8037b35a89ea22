// Invariants 5–8 (docs/architecture.md#security-invariants) checked end to end: a real Envoy gateway configured
// over ADS by the real control plane process, the real wasm filter, jwt_authn
// with a real JWKS. The BFF's internal port is the contract's fixture token
// server (it records every call); its public port is an echo server.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { startTokenServer, type TokenServer } from "../fixtures/token-server.js";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  hostRequest,
  REPO_ROOT,
  startEcho,
  startEnvoy,
} from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  until,
  writeApp,
} from "../xds/helpers.js";

const HOST = "shop.test";
const COOKIE = "__Host-sg-shop";
const SID = "S".repeat(20) + "ession-id-of-alice-000";
const SECRET = "write-only-secret-of-shop-7f3a";

/** A request through the gateway; unsafe methods carry a small JSON body. */
const send = (port: number, method: string, path: string, headers: Record<string, string>) =>
  hostRequest(port, path, headers, { method, body: method === "POST" ? "{}" : undefined });

describe("security invariants at the gateway", () => {
  let cp: ControlPlane;
  let jwks: Jwks;
  let bffInternal: TokenServer;
  let bffPublic: EchoHandle;
  let api: EchoHandle;
  let port: number;
  let envoy: EnvoyHandle;
  let accessToken: string;
  const cliEnv = () => ({ SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN });

  beforeAll(async () => {
    [jwks, bffInternal, bffPublic, api] = await Promise.all([
      startJwks(),
      startTokenServer(),
      startEcho({ name: "bff-public" }),
      startEcho({ name: "api" }),
    ]);
    cp = await startControlPlane({
      name: "xds-invariants",
      extraArgs: [`--bff-public=127.0.0.1:${bffPublic.port}`, `--bff-internal=127.0.0.1:${bffInternal.port}`],
    });
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name: "gw-invariants",
      vars: {
        NODE_ID: "gw-invariants",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    const spec = appSpec("shop", { host: HOST, upstream: api.port, jwks });
    const r = await cli(
      ["apps", "register", "-f", writeApp({ ...spec, oidc: { ...spec.oidc, client_secret: SECRET } })],
      cliEnv(),
    );
    expect(r.code).toBe(0);
    accessToken = await jwks.sign({ sub: "alice", email: "alice@example.test" });
    bffInternal.sessions.set(SID, { accessToken, expiresIn: 300, app: "shop" });
    await until(port, "/ready-probe", { host: HOST, authorization: `Bearer ${accessToken}` }, 200);
  });

  it("invariant 5: cross-site unsafe requests with the cookie are refused", async () => {
    const cookie = `${COOKIE}=${SID}`;
    const before = api.requests.length;
    const crossOrigin = await send(port, "POST", "/orders", {
      host: HOST,
      cookie,
      origin: "https://evil.test",
    });
    expect(crossOrigin.status).toBe(403);
    expect(JSON.parse(crossOrigin.body)).toEqual({ error: "csrf_denied" });
    const crossSite = await send(port, "POST", "/orders", {
      host: HOST,
      cookie,
      "sec-fetch-site": "cross-site",
    });
    expect(crossSite.status).toBe(403);
    const nullOrigin = await send(port, "DELETE", "/orders/1", { host: HOST, cookie, origin: "null" });
    expect(nullOrigin.status).toBe(403);
    expect(api.requests.length).toBe(before);
    // The same request from the app's own origin (https://<host> unless the app
    // lists allowed origins) goes through with the token.
    const sameOrigin = await send(port, "POST", "/orders", {
      host: HOST,
      cookie,
      origin: `https://${HOST}`,
      "sec-fetch-site": "same-origin",
    });
    expect(sameOrigin.status).toBe(200);
    expect(api.requests.at(-1)?.headers.authorization).toBe(`Bearer ${accessToken}`);
  });

  it("invariant 6: the session cookie never reaches an upstream", async () => {
    const cases: Array<Record<string, string>> = [
      { cookie: `theme=dark; ${COOKIE}=${SID}; lang=en` },
      { cookie: `${COOKIE}=${SID}` },
      { cookie: `${COOKIE}="${SID}"; ${COOKIE}=${SID}` },
      { cookie: `${COOKIE}=${SID}`, authorization: `Bearer ${accessToken}` },
    ];
    for (const headers of cases) {
      const before = api.requests.length;
      const r = await send(port, "GET", "/profile", { host: HOST, ...headers });
      expect(r.status).toBe(200);
      expect(api.requests.length).toBe(before + 1);
      const seen = api.requests.at(-1)!;
      expect(JSON.stringify(seen.headers)).not.toContain(SID);
      expect(seen.headers.authorization).toBe(`Bearer ${accessToken}`);
    }
    expect(api.requests.at(-4)?.headers.cookie).toBe("theme=dark; lang=en");
    // An unknown session is refused at the edge: nothing upstream.
    const before = api.requests.length;
    const unknown = await send(port, "GET", "/profile", {
      host: HOST,
      cookie: `${COOKIE}=${"x".repeat(43)}`,
    });
    expect(unknown.status).toBe(401);
    expect(api.requests.length).toBe(before);
  });

  it("the BFF's own routes get the session cookie untouched (it is not an upstream app)", async () => {
    const calls = bffInternal.requests.length;
    const r = await send(port, "GET", "/auth/shop/session", { host: HOST, cookie: `${COOKIE}=${SID}` });
    expect(r.status).toBe(200);
    const seen = bffPublic.requests.at(-1)!;
    expect(seen.path).toBe("/auth/shop/session");
    expect(seen.headers.cookie).toBe(`${COOKIE}=${SID}`);
    expect(seen.headers.authorization).toBeUndefined();
    expect(bffInternal.requests.length).toBe(calls);
  });

  it("invariant 7: the BFF internal port is unreachable through Envoy", async () => {
    const calls = bffInternal.requests.length;
    const paths = [
      "/internal/v1/session-token",
      "/auth/../internal/v1/session-token",
      "/auth/shop/../../internal/v1/session-token",
      "//internal/v1/session-token",
      "/%2e%2e/internal/v1/session-token",
      "/auth/internal/v1/session-token",
    ];
    const hosts = [HOST, "sessiongate-bff", `127.0.0.1:${bffInternal.port}`, "localhost", "*"];
    for (const path of paths) {
      for (const host of hosts) {
        // Forged filter->BFF headers, no cookie: nothing may reach the internal port.
        const r = await send(port, "GET", path, {
          host,
          "x-sessiongate-app": "shop",
          "x-sessiongate-session": SID,
        });
        // A 200 can only be the BFF's *public* listener (…/auth/… is routed there).
        if (r.status === 200) expect(JSON.parse(r.body).upstream).toBe("bff-public");
        expect(r.body).not.toContain("access_token");
      }
    }
    expect(bffInternal.requests.length).toBe(calls);
    // The internal cluster exists only for the filter's proxy_http_call: no route names it.
    const dump = (await envoy.configDump()) as { configs: Array<Record<string, unknown>> };
    const routes = dump.configs.find(
      (c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
    );
    const clusters = dump.configs.find(
      (c) => c["@type"] === "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
    );
    expect(JSON.stringify(routes)).toContain("sessiongate_bff_public");
    expect(JSON.stringify(routes)).not.toContain("sessiongate_bff_internal");
    expect(JSON.stringify(clusters)).toContain("sessiongate_bff_internal");
  });

  it("invariant 8: registration calls without valid credentials are refused; secrets never read back", async () => {
    const noToken = await cli(["apps", "list"], { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: "" });
    expect(noToken.code).not.toBe(0);
    const wrong = await cli(["apps", "delete", "shop"], {
      SESSIONGATE_SERVER: cp.api,
      SESSIONGATE_TOKEN: `${TOKEN}x`,
    });
    expect(wrong.code).not.toBe(0);
    expect(`${wrong.stdout}${wrong.stderr}`).toMatch(/UNAUTHENTICATED|unauthenticated/i);
    const got = await cli(["apps", "get", "shop", "-o", "json"], cliEnv());
    expect(got.code).toBe(0);
    expect(got.stdout).toContain("shop");
    expect(`${got.stdout}${got.stderr}`).not.toContain(SECRET);
    const listed = await cli(["apps", "list", "-o", "json"], cliEnv());
    expect(`${listed.stdout}${listed.stderr}`).not.toContain(SECRET);
    // The refused delete changed nothing: the app still serves.
    expect(
      (await send(port, "GET", "/still-here", { host: HOST, authorization: `Bearer ${accessToken}` })).status,
    ).toBe(200);
  });
});
