// On-demand virtual hosts through a real Envoy (Delta ADS, node metadata
// `vhds: on_demand`): the gateway holds only the hosts it has served. The
// first request to a registered host that Envoy has not loaded waits for the
// host's virtual host and is then run through the whole chain on its route —
// never a 404 for a registered app, never a request past jwt_authn or the
// session-to-token filter without its route (the on_demand filter is first in
// the chain and restarts the request once the host is loaded).
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fromJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { AppSpecSchema } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { connect } from "../../xds-server/cli/client.js";
import { KEY1 } from "../bff/helpers.js";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  type HostReply,
  hostRequest,
  OpBrowser,
  onCleanup,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startOP,
  startRedis,
  waitFor,
} from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  get,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
} from "./helpers.js";

const HOSTS = 12;

function startGateway(xdsPort: number, name: string): Promise<[EnvoyHandle, number]> {
  return freePort().then(async (port) => [
    await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name,
      vars: {
        NODE_ID: name,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    }),
    port,
  ]);
}

/** Host names of the virtual hosts Envoy holds, from its config dump. */
async function loadedHosts(envoy: EnvoyHandle): Promise<string[]> {
  const dump = JSON.stringify(await envoy.configDump());
  return [...new Set([...dump.matchAll(/"name":"sessiongate_gateway\/([^"]+)"/g)].map((m) => m[1]))].sort();
}

/** The apps' upstream clusters Envoy has (route-only clusters come with their host). */
async function appClusters(envoy: EnvoyHandle): Promise<string[]> {
  const dump = JSON.stringify(await envoy.configDump());
  return [...new Set([...dump.matchAll(/"name":"(sg_app_[^"]+)"/g)].map((m) => m[1]))].sort();
}

describe("on-demand virtual hosts (Delta gateway)", () => {
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo: EchoHandle;
  let jwks: Jwks;
  let port: number;
  let api: ReturnType<typeof connect>;
  let token: string;
  const spec = (id: string, host: string, prefix = "/") =>
    fromJson(AppSpecSchema, appSpec(id, { host, prefix, upstream: echo.port, jwks }) as never);

  beforeAll(async () => {
    const redis = await startRedis();
    cp = await startControlPlane({ name: "xds-ondemand", redisUrl: redis.url });
    [echo, jwks] = await Promise.all([startEcho({ name: "echo-ondemand" }), startJwks()]);
    api = connect(cp.api, TOKEN);
    for (let i = 0; i < HOSTS; i++)
      await api.unary("createApp", { app: spec(`app${i}`, `h${i}.test`) }, 10_000);
    port = await freePort();
    envoy = await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name: "gw-ondemand",
      vars: {
        NODE_ID: "gw-ondemand",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      },
    });
    token = await jwks.sign();
    // The listener is up once the anchor answers (404: no app on it).
    await waitFor("the gateway listener", async () => {
      const r = await get(port, "/", { host: "sessiongate.invalid" }).catch(() => null);
      return r?.status === 404;
    });
  });

  afterAll(async () => {
    api?.close();
    await envoy?.stop();
    await cp?.stop();
  });

  it("holds no app's virtual host nor upstream cluster before a request for it", async () => {
    expect(await loadedHosts(envoy)).toEqual(["sessiongate.invalid"]);
    expect(await appClusters(envoy)).toEqual([]);
  });

  it("the first request to a registered host is served through jwt_authn on the host's route", async () => {
    const seen = echo.requests.length;
    const r = await get(port, "/first", {
      host: "h0.test",
      authorization: `Bearer ${token}`,
      "x-user": "mallory",
    });
    expect(r.status, r.body).toBe(200);
    const up = echo.requests.slice(seen);
    expect(up.map((q) => q.path)).toEqual(["/first"]);
    expect(up[0].headers["x-user"]).toBe("alice"); // from the validated token, the forged one stripped
    expect(up[0].headers["x-sessiongate-app"]).toBe("app0");
    expect(await loadedHosts(envoy)).toEqual(["h0.test", "sessiongate.invalid"]);
    // The host's cluster came with it, before the host (the request found it running).
    expect(await appClusters(envoy)).toEqual(["sg_app_app0"]);
  });

  it("a Host with a port loads the host's virtual host; a host never asked for is never pushed", async () => {
    const r = await get(port, "/p", { host: "h3.test:10000", authorization: `Bearer ${token}` });
    expect(r.status, r.body).toBe(200);
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("app3");
    const loaded = await loadedHosts(envoy);
    expect(loaded).toContain("h3.test");
    expect(loaded).not.toContain("h4.test");
    expect(await appClusters(envoy)).not.toContain("sg_app_app4");
  });

  it("the first request to a cold host without a token or with a forged one is refused like on a warm host", async () => {
    const seen = echo.requests.length;
    const none = await get(port, "/x", { host: "h1.test", "x-user": "mallory" });
    expect(none.status).toBe(401);
    const forged = await get(port, "/x", {
      host: "h2.test",
      authorization: `Bearer ${await jwks.sign({}, { aud: "other" })}`,
    });
    expect(forged.status).toBe(403);
    // Warm now: the same answers.
    expect((await get(port, "/x", { host: "h1.test" })).status).toBe(401);
    expect(echo.requests.length).toBe(seen);
  });

  it("a request with a body to a cold host goes on, on the host's route, once the host is loaded", async () => {
    // Envoy cannot restart a request whose body it has begun to receive; the on_demand
    // filter then lets it go on, and the route the next filters see is the loaded host's.
    const seen = echo.requests.length;
    const post = (host: string, headers: Record<string, string>, body: string) =>
      hostRequest(
        port,
        "/post",
        { host, "content-type": "text/plain", ...headers },
        { method: "POST", body },
      );
    const noToken = await post("h5.test", {}, "x".repeat(1000));
    expect(noToken.status, noToken.body).toBe(401);
    const withToken = await post("h7.test", { authorization: `Bearer ${token}` }, "y".repeat(1000));
    expect(withToken.status, withToken.body).toBe(200);
    const up = echo.requests.slice(seen);
    expect(up.map((q) => [q.body.length, q.headers["x-sessiongate-app"], q.headers["x-user"]])).toEqual([
      [1000, "app7", "alice"],
    ]);
  });

  it("a path no route of a loaded host matches is a 404 at once (no endless re-fetch)", async () => {
    await api.unary("createApp", { app: spec("narrow", "narrow.test", "/api") }, 10_000);
    const a = await get(port, "/api/x", { host: "narrow.test", authorization: `Bearer ${token}` });
    expect(a.status).toBe(200);
    const t0 = performance.now();
    const b = await get(port, "/elsewhere", { host: "narrow.test", authorization: `Bearer ${token}` });
    expect(b.status).toBe(404);
    console.log(`unrouted path on a loaded host: 404 in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  it("unknown and hostile hosts get a 404 at once and leave nothing loaded", async () => {
    const before = await loadedHosts(envoy);
    const hosts = [
      ...Array.from({ length: 200 }, (_, i) => `unknown-${i}.example`),
      "a".repeat(4000),
      `${"b".repeat(300)}.example`,
      "bad_host!.example",
    ];
    const t0 = performance.now();
    const statuses = await Promise.all(hosts.map((host) => get(port, "/", { host }).then((r) => r.status)));
    console.log(`${hosts.length} unknown hosts answered in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(new Set(statuses)).toEqual(new Set([404]));
    expect(await loadedHosts(envoy)).toEqual(before);
    // A registered host is still loaded on its first request afterwards.
    expect((await get(port, "/", { host: "h6.test", authorization: `Bearer ${token}` })).status).toBe(200);
    // Envoy does not ask for a name twice: an app registered later on a host asked for before is pushed.
    await api.unary("createApp", { app: spec("late", "unknown-7.example") }, 10_000);
    await waitFor("unknown-7.example served", async () => {
      const r = await get(port, "/", { host: "unknown-7.example", authorization: `Bearer ${token}` });
      return r.status === 200;
    });
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("late");
  });

  it("a deleted app's virtual host is removed from the gateway that held it", async () => {
    expect((await get(port, "/x", { host: "h10.test", authorization: `Bearer ${token}` })).status).toBe(200);
    expect(await loadedHosts(envoy)).toContain("h10.test");
    await api.unary("deleteApp", { id: "app10" }, 10_000);
    await waitFor(
      "h10.test removed from Envoy",
      async () => !(await loadedHosts(envoy)).includes("h10.test"),
    );
    expect((await get(port, "/x", { host: "h10.test", authorization: `Bearer ${token}` })).status).toBe(404);
    // Registered again: Envoy never asks for a name twice, so the server pushes the host back.
    await api.unary("createApp", { app: spec("app10b", "h10.test") }, 10_000);
    await waitFor("h10.test served again", async () => {
      const r = await get(port, "/x", { host: "h10.test", authorization: `Bearer ${token}` });
      return r.status === 200;
    });
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("app10b");
  });

  it("apps on host * serve any other host on demand, without hiding a registered host not loaded yet", async () => {
    await api.unary("createApp", { app: spec("wild", "*", "/wild") }, 10_000);
    const auth = { authorization: `Bearer ${token}` };
    const w = await get(port, "/wild/x", { host: "random.example", ...auth });
    expect(w.status, w.body).toBe(200);
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("wild");
    // A registered host Envoy has not loaded is still asked for, not served by "*".
    const own = await get(port, "/x", { host: "h8.test", ...auth });
    expect(own.status, own.body).toBe(200);
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("app8");
    expect((await get(port, "/wild/y", { host: "h8.test", ...auth })).status).toBe(200);
    expect(echo.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("wild");
    // Envoy holds a virtual host per host asked for, never the "*" one.
    const loaded = await loadedHosts(envoy);
    expect(loaded).toContain("random.example");
    expect(loaded).not.toContain("*");
    // Without a token, the "*" app's route refuses it on a cold host too.
    expect((await get(port, "/wild/x", { host: "other.example" })).status).toBe(401);
    await api.unary("deleteApp", { id: "wild" }, 10_000);
    await waitFor(
      "random.example removed",
      async () => !(await loadedHosts(envoy)).includes("random.example"),
    );
  });

  it("survives a control-plane restart: Envoy asks again for what it holds and gets later changes to it", async () => {
    const held = await loadedHosts(envoy);
    await cp.stop();
    await cp.restart();
    api.close();
    api = connect(cp.api, TOKEN);
    // A second app on h0.test: Envoy gets it only if the new server knows the node holds h0.test
    // (h0.test is loaded, so a request for /two/x matches app0's "/" route and never asks again).
    await api.unary("createApp", { app: spec("two", "h0.test", "/two") }, 10_000);
    await waitFor("h0.test/two routed to the new app", async () => {
      await get(port, "/two/x", { host: "h0.test", authorization: `Bearer ${token}` });
      return echo.requests.at(-1)?.headers["x-sessiongate-app"] === "two";
    });
    expect(await loadedHosts(envoy)).toEqual(held);
  });
});

// The session-to-token filter reads the app from the route's metadata, so on a
// host Envoy has not loaded it must run only after the on_demand filter loaded
// it: a cookie-only request to a cold host gets its token swapped in, and a
// forged or absent session is refused exactly as on a warm host.
describe("on-demand virtual hosts and the session cookie", () => {
  const ID = "shop";
  const COOKIE = `__Host-sg-${ID}`;
  let cp: ControlPlane;
  let envoy: EnvoyHandle;
  let echo: EchoHandle;
  let port: number;
  let session: string;

  beforeAll(async () => {
    const [redis, echoUp] = await Promise.all([startRedis(), startEcho({ name: "echo-ondemand-session" })]);
    echo = echoUp;
    const secret = randomBytes(18).toString("base64url");
    const redirect = `http://login.test/auth/${ID}/callback`;
    const op = await startOP({
      clients: [{ client_id: ID, client_secret: secret, redirect_uris: [redirect] }],
    });
    const [publicPort, internalPort] = [await freePort(), await freePort()];
    const internalKey = randomBytes(24).toString("base64url");
    const bff: RunningBff = await startBff(
      validateConfig({
        log_level: "warn",
        allow_insecure_issuer: true,
        public: { listen: `127.0.0.1:${publicPort}` },
        internal: { listen: `127.0.0.1:${internalPort}`, key: internalKey },
        redis: { url: redis.url },
        keys: { active: "k1", keys: { k1: KEY1 } },
        apps: [
          {
            id: ID,
            mode: "bff",
            issuer: op.issuer,
            client_id: ID,
            client_secret: secret,
            redirect_uri: redirect,
          },
        ],
      }),
      { defaultMetrics: false },
    );
    onCleanup(() => bff.close());
    cp = await startControlPlane({
      name: "xds-ondemand-session",
      extraArgs: [
        `--bff-public=127.0.0.1:${publicPort}`,
        `--bff-internal=127.0.0.1:${internalPort}`,
        `--bff-internal-key=${internalKey}`,
      ],
    });
    const api = connect(cp.api, TOKEN);
    const app = {
      id: ID,
      hosts: ["login.test", "cold.test", "cold-post.test", "cold-forged.test"],
      path_prefix: "/",
      oidc: { issuer: op.issuer, client_id: ID, client_secret: secret, scopes: ["openid", "profile"] },
      session: { mode: "bff" },
      upstreams: [`127.0.0.1:${echo.port}`],
      jwt: {
        issuer: op.issuer,
        audiences: [op.audience],
        remote_jwks_uri: op.jwksUri,
        claim_headers: [{ claim: "sub", header: "x-user" }],
      },
    };
    await api.unary("createApp", { app: fromJson(AppSpecSchema, app as never) }, 10_000);
    api.close();
    [envoy, port] = await startGateway(cp.xdsPort, "gw-ondemand-session");
    const gw = (host: string, path: string, headers: Record<string, string> = {}) =>
      hostRequest(port, path, { host, ...headers });
    // Log in through the gateway on login.test (its BFF routes load that host only).
    const start = await waitFor("the login through the gateway", async () => {
      const r = await gw("login.test", `/auth/${ID}/login?return_to=%2F`).catch(() => null);
      return r?.status === 302 ? r : undefined;
    });
    const cookies = (r: HostReply) => (r.headers["set-cookie"] ?? []).map((l) => l.split(";")[0]);
    const loginCookie = cookies(start).find((c) => c.startsWith(`${COOKIE}-login=`))!;
    const callback = new URL(
      await new OpBrowser(op.issuer).login(start.headers.location ?? "", {
        username: "alice",
        password: "wonderland",
      }),
    );
    const cb = await gw("login.test", `${callback.pathname}${callback.search}`, { cookie: loginCookie });
    session = cookies(cb)
      .find((c) => c.startsWith(`${COOKIE}=`))!
      .slice(COOKIE.length + 1);
    expect(session, `callback ${cb.status}: ${cb.body.slice(0, 200)}`).toBeTruthy();
  });

  afterAll(async () => {
    await envoy?.stop();
    await cp?.stop();
  });

  it("a cookie-only request to a cold host gets the session's token (session-to-token ran on the loaded route)", async () => {
    expect(await loadedHosts(envoy)).not.toContain("cold.test");
    const seen = echo.requests.length;
    const r = await get(port, "/whoami", { host: "cold.test", cookie: `${COOKIE}=${session}` });
    expect(r.status, r.body).toBe(200);
    const up = echo.requests.slice(seen);
    expect(up).toHaveLength(1);
    expect(up[0].headers.authorization).toMatch(/^Bearer ey/);
    expect(up[0].headers["x-user"]).toBeTruthy(); // set by jwt_authn from the swapped-in token
    expect(up[0].headers.cookie ?? "").not.toContain(COOKIE); // invariant 6
  });

  it("a cookie-only POST with a body to a cold host is swapped too", async () => {
    const seen = echo.requests.length;
    const r = await hostRequest(
      port,
      "/submit",
      {
        host: "cold-post.test",
        origin: "https://cold-post.test",
        cookie: `${COOKIE}=${session}`,
        "content-type": "text/plain",
      },
      { method: "POST", body: "z".repeat(500) },
    );
    expect(r.status, r.body).toBe(200);
    const up = echo.requests.slice(seen);
    expect(up.map((q) => [q.body.length, /^Bearer ey/.test(String(q.headers.authorization))])).toEqual([
      [500, true],
    ]);
  });

  it("a forged or absent session on a cold host is refused exactly as on a warm host", async () => {
    const seen = echo.requests.length;
    const forged = `${COOKIE}=${randomBytes(32).toString("base64url")}`;
    const cold = await get(port, "/x", { host: "cold-forged.test", cookie: forged });
    const warm = await get(port, "/x", { host: "cold-forged.test", cookie: forged });
    expect(cold.status).toBe(warm.status);
    expect(cold.status).toBe(401);
    const absent = await get(port, "/x", { host: "cold.test" });
    expect(absent.status).toBe(401);
    expect(echo.requests.length).toBe(seen);
  });
});
