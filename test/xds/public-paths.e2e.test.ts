// AppSpec.public_paths through a real Envoy fed by the real control plane:
// an SPA shell and its assets answer 200 without a session or JWT, the
// upstream never sees a Cookie (invariant 6 holds on public routes too), every
// other path still needs a JWT, and "/assets/*" is a prefix that does not
// match "/assetsx".
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
} from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  get,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  until,
  writeApp,
} from "./helpers.js";

describe("public paths through a real Envoy", () => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo: EchoHandle;
  let jwks: Jwks;
  let port: number;
  const host = "spa.test";
  const cookie = "__Host-sg-spa=c2Vzc2lvbi1pZC1ub3QtZm9yLXVwc3RyZWFtcw; theme=dark; other=1";

  beforeAll(async () => {
    cp = await startControlPlane({ name: "xds-public" });
    [echo, jwks] = await Promise.all([startEcho({ name: "echo-public" }), startJwks()]);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name: "gw-public",
      vars: {
        NODE_ID: "gw-public",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    const file = writeApp(
      appSpec("spa", {
        host,
        upstream: echo.port,
        jwks,
        extra: { public_paths: ["/", "/index.html", "/assets/*"] },
      }),
    );
    const r = await cli(["apps", "register", "-f", file], {
      SESSIONGATE_SERVER: cp.api,
      SESSIONGATE_TOKEN: TOKEN,
    });
    expect(r.code, r.stderr).toBe(0);
    await until(port, "/index.html", { host }, 200);
  });

  afterAll(async () => {
    await envoy?.stop();
    await cp?.stop();
  });

  it("the SPA shell answers 200 from the upstream without cookie or JWT", async () => {
    for (const path of ["/", "/index.html", "/assets/a.js", "/assets/css/app.css?v=3"]) {
      const r = await get(port, path, { host });
      expect(r.status, path).toBe(200);
      const seen = echo.requests.at(-1)!;
      expect(seen.path).toBe(path);
      expect(seen.headers["x-sessiongate-app"]).toBe("spa");
    }
  });

  it("invariant 6: the session cookie never reaches an upstream, on public paths either", async () => {
    const before = echo.requests.length;
    const r = await get(port, "/assets/a.js", { host, cookie, "x-user": "admin" });
    expect(r.status).toBe(200);
    expect(echo.requests.length).toBe(before + 1);
    const seen = echo.requests.at(-1)!;
    expect(seen.headers.cookie).toBeUndefined();
    expect(JSON.stringify(seen.headers)).not.toContain("c2Vzc2lvbi1pZC1ub3QtZm9yLXVwc3RyZWFtcw");
    // Identity headers are still stripped: only jwt_authn may set them.
    expect(seen.headers["x-user"]).toBeUndefined();
    // An unvalidated bearer token is not forwarded from a public route either.
    await get(port, "/index.html", { host, authorization: "Bearer forged.token.value" });
    expect(echo.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("non-public paths still need a JWT (401), and /assets/* is a prefix that does not match /assetsx", async () => {
    const before = echo.requests.length;
    for (const path of ["/api/items", "/assetsx", "/assetsx/a.js", "/assets", "/index.htmlx"]) {
      expect((await get(port, path, { host })).status, path).toBe(401);
    }
    expect(echo.requests.length).toBe(before);
    const token = await jwks.sign();
    const ok = await get(port, "/api/items", { host, authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(echo.requests.at(-1)!.headers["x-user"]).toBe("alice");
  });
});
