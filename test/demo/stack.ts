// The whole local stack behind `npm run demo` and the browser tests: Redis,
// a demo OP (or an external provider), the BFF, the xds-server, the demo
// SPA+API, and Envoy configured only over ADS, with the demo app registered
// through the registration API (the real `sessiongate` CLI).
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import {
  type EnvoyHandle,
  freePort,
  hostRequest,
  type OpHandle,
  onCleanup,
  REPO_ROOT,
  type RedisHandle,
  redisBin,
  renderTemplate,
  runCli,
  startEnvoy,
  startOP,
  startProcess,
  startRedis,
  stopAll,
  waitFor,
} from "../harness/index.js";
import { type ExternalIdp, externalIdpFromEnv } from "./idp.js";
import { type DemoServer, startDemoServer } from "./server.js";

export const APP_ID = "demo";
const BFF_PREFIX = "/auth";

export class DemoError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface DemoOptions {
  /** Gateway port (default DEMO_PORT, else 8080 if free, else a free port). */
  port?: number;
  /** Wasm token-cache bound: a logout reaches the edge within this (default 5 s). */
  cacheMaxTtlS?: number;
  /** An external provider instead of the demo OP (default: from DEMO_ISSUER etc.). */
  idp?: ExternalIdp | null;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface DemoStack {
  /** The URL to open: the gateway's SPA. */
  url: string;
  /** Starts a login and comes back to the SPA. */
  loginUrl: string;
  origin: string;
  gatewayPort: number;
  user: { username: string; password: string } | null;
  appId: string;
  cookieName: string;
  op: OpHandle | null;
  redis: RedisHandle;
  bff: RunningBff;
  demo: DemoServer;
  envoy: EnvoyHandle;
  xds: { apiAddress: string; token: string; xdsPort: number; httpPort: number };
  stop(): Promise<void>;
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function gatewayPort(opt?: number): Promise<number> {
  if (opt) return opt;
  if (process.env.DEMO_PORT) {
    const p = Number(process.env.DEMO_PORT);
    if (!Number.isInteger(p) || p < 1 || p > 65535)
      throw new DemoError(`DEMO_PORT=${process.env.DEMO_PORT}: not a port`, 2);
    if (!(await portIsFree(p))) throw new DemoError(`DEMO_PORT=${p} is already in use`, 2);
    return p;
  }
  return (await portIsFree(8080)) ? 8080 : freePort();
}

export async function startDemoStack(opts: DemoOptions = {}): Promise<DemoStack> {
  const t0 = Date.now();
  const say = opts.log ?? (() => {});
  const idp = opts.idp === undefined ? externalIdpFromEnv() : opts.idp;
  // The BFF keeps sessions only in Redis: without it there is no demo to run.
  if (process.env.SESSIONGATE_HARNESS !== "containers") {
    try {
      redisBin();
    } catch (err) {
      throw new DemoError(
        `!!! ${(err as Error).message}\n!!! The xds-server could run with its in-memory registry, but the BFF ` +
          "stores sessions only in Redis and cannot start without it, so the demo cannot run. " +
          "Install redis-server (apt-get install redis-server) or set REDIS_SERVER_BIN.",
        3,
      );
    }
  }
  const port = await gatewayPort(opts.port);
  const origin = `http://localhost:${port}`;
  const host = `localhost:${port}`;
  const authBase = `${origin}${BFF_PREFIX}/${APP_ID}`;
  const loginUrl = `${authBase}/login?return_to=%2F`;

  const redis = await startRedis();
  say(`  redis        ${redis.url}`);

  const clientId = idp?.clientId ?? "sessiongate-demo";
  const clientSecret = idp?.clientSecret ?? randomBytes(24).toString("base64url");
  let op: OpHandle | null = null;
  if (!idp) {
    op = await startOP({
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [`${authBase}/callback`],
          post_logout_redirect_uris: [loginUrl, `${authBase}/logout/callback`],
          backchannel_logout_uri: `${authBase}/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
    });
    say(`  identity     ${op.issuer} (demo OpenID Provider)`);
  } else {
    say(`  identity     ${idp.issuer} (external provider, client ${clientId})`);
  }
  const issuer = idp?.issuer ?? op!.issuer;
  const audience = idp?.audience ?? op!.audience;
  const jwksUri = idp?.jwksUri ?? op!.jwksUri;

  const [publicPort, internalPort] = [await freePort(), await freePort()];
  const internalKey = randomBytes(24).toString("base64url");
  const bff = await startBff(
    validateConfig({
      log_level: process.env.DEMO_LOG_LEVEL ?? "warn",
      allow_insecure_issuer: issuer.startsWith("http:"),
      public: { listen: `127.0.0.1:${publicPort}`, prefix: BFF_PREFIX },
      internal: { listen: `127.0.0.1:${internalPort}`, key: internalKey },
      redis: { url: redis.url },
      keys: { keys: { k1: randomBytes(32).toString("base64") } },
      apps: [
        {
          id: APP_ID,
          mode: "bff",
          issuer,
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uri: `${authBase}/callback`,
          // After logout, straight back to a fresh login: the gateway has no
          // anonymous route, so the SPA itself is only served to a session.
          post_logout_redirect_uri: idp ? undefined : loginUrl,
          scopes: idp?.scopes ?? ["openid", "profile", "email", "offline_access"],
          auth_params: idp?.authParams ?? {},
        },
      ],
    }),
    { defaultMetrics: false },
  );
  onCleanup(() => bff.close());
  say(`  bff          public ${bff.publicUrl}, internal ${bff.internalUrl}`);

  const demo = await startDemoServer({ appId: APP_ID, bffPrefix: BFF_PREFIX });
  onCleanup(() => demo.stop());
  say(`  demo SPA+API ${demo.url}`);

  const [xdsPort, apiPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString("base64url");
  const cacheMaxTtl = opts.cacheMaxTtlS ?? 5;
  await startProcess({
    name: "demo-xds-server",
    cmd: process.execPath,
    args: [
      "--import",
      "tsx",
      join(REPO_ROOT, "xds-server/main.ts"),
      `--xds-port=${xdsPort}`,
      `--api-port=${apiPort}`,
      `--http-port=${httpPort}`,
      `--redis-url=${redis.url}`,
      `--wasm-file=${join(REPO_ROOT, "build/session-to-token.wasm")}`,
      `--bff-public=127.0.0.1:${publicPort}`,
      `--bff-internal=127.0.0.1:${internalPort}`,
      `--bff-prefix=${BFF_PREFIX}`,
      `--cache-max-ttl-s=${cacheMaxTtl}`,
    ],
    // Secrets go through the environment, not argv (ps shows argv).
    env: { SESSIONGATE_API_TOKEN: token, SESSIONGATE_BFF_INTERNAL_KEY: internalKey },
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${httpPort}/healthz` },
    readyTimeoutMs: 30_000,
  });
  say(`  xds-server   ADS 127.0.0.1:${xdsPort}, registration API 127.0.0.1:${apiPort} (Redis registry)`);

  const envoy = await startEnvoy({
    file: join(REPO_ROOT, "envoy/gateway-ads.yaml"),
    name: "demo-envoy",
    vars: {
      NODE_ID: "demo-gateway",
      XDS_HOST: "127.0.0.1",
      XDS_PORT: xdsPort,
      LISTENER_ADDRESS: "127.0.0.1",
      LISTENER_PORT: port,
    },
  });
  say(`  envoy        ${origin} (admin ${envoy.adminUrl}), configured over ADS only`);

  const dir = mkdtempSync(join(tmpdir(), "sg-demo-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const appFile = join(dir, "demo-app.yaml");
  writeFileSync(
    appFile,
    renderTemplate(readFileSync(join(import.meta.dirname, "demo-app.yaml"), "utf8"), {
      APP_ID,
      HOST: host,
      ISSUER: issuer,
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      UPSTREAM_PORT: demo.port,
      JWT_ISSUER: idp?.jwtIssuer ?? issuer,
      AUDIENCE: audience,
      JWKS_URI: jwksUri,
    }),
    { mode: 0o600 },
  );
  const env = { SESSIONGATE_SERVER: `127.0.0.1:${apiPort}`, SESSIONGATE_TOKEN: token };
  const reg = await runCli(["apps", "register", "-f", appFile], env);
  if (reg.code !== 0)
    throw new DemoError(
      `sessiongate apps register failed (${reg.code}): ${`${reg.stdout}${reg.stderr}`.trim()}`,
      1,
    );
  say(`  registered   app "${APP_ID}" for ${host} via \`sessiongate apps register -f\``);

  // Ready when Envoy routes the app: the BFF answers the session route (401
  // no_session) and jwt_authn guards the SPA (401 without a token).
  await waitFor(
    "the gateway serving the demo app",
    async () => {
      const s = await hostRequest(
        port,
        `${BFF_PREFIX}/${APP_ID}/session`,
        { host },
        { timeoutMs: 3000 },
      ).catch(() => null);
      return s?.status === 401 && s.body.includes("no_session");
    },
    30_000,
    100,
  );
  say(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  return {
    url: `${origin}/`,
    loginUrl,
    origin,
    gatewayPort: port,
    user: op ? { username: op.users[0].username, password: op.users[0].password } : null,
    appId: APP_ID,
    cookieName: `__Host-sg-${APP_ID}`,
    op,
    redis,
    bff,
    demo,
    envoy,
    xds: { apiAddress: env.SESSIONGATE_SERVER, token, xdsPort, httpPort },
    stop: () => stopAll(false),
  };
}

/** Whether the wasm module the xds-server serves has been built. */
export function wasmBuilt(): boolean {
  return existsSync(join(REPO_ROOT, "build/session-to-token.wasm"));
}
