// The whole local stack behind `npm run demo` and the browser tests: Redis,
// a demo OP (or an external provider), the BFF, the xds-server, the demo
// SPA+API, and Envoy configured only over ADS, with the demo app registered
// through the registration API (the real `sessiongate` CLI).
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningBff, startBff } from "../../bff/index.js";
// The harness modules one by one, not its index: oidc-provider (the demo OP)
// is loaded only when it runs, so an external provider gets no warning from it.
import { onCleanup, stopAll } from "../harness/cleanup.js";
import { runCli } from "../harness/cli.js";
import { type EnvoyHandle, REPO_ROOT, startEnvoy } from "../harness/envoy.js";
import { hostRequest } from "../harness/http.js";
import type { OpHandle } from "../harness/op.js";
import { freePort, waitFor } from "../harness/ports.js";
import { startProcess } from "../harness/process.js";
import { type RedisHandle, redisBin, startRedis } from "../harness/redis.js";
import {
  DEFAULT_APP_ID,
  type DemoAppOptions,
  type DemoAppSpec,
  opClients,
  registrationYaml,
  resolveApps,
} from "./apps.js";
import { demoBffConfig } from "./bff-config.js";
import { type ExternalIdp, externalIdpFromEnv } from "./idp.js";
import { type DemoServer, startDemoServer } from "./server.js";

export type { DemoAppOptions, DemoMode } from "./apps.js";
export const APP_ID = DEFAULT_APP_ID;
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
  /** The demo OP's access-token lifetime in seconds (default 300); short to watch renewals. */
  opAccessTokenTtlS?: number;
  /**
   * The apps on the gateway (default one bff-mode app "demo" on `localhost`).
   * Each gets its own host (`<id>.localhost` when there are several), OP
   * client, cookie, BFF app and demo upstream.
   */
  apps?: DemoAppOptions[];
  /**
   * The BFF's refresh skew in seconds (default 30): a provider whose access
   * tokens live long (5 min) gets a refresh due soon after login with a large one.
   */
  bffRefreshSkewS?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** One app of the stack: its addresses, cookie and OP client, and its upstream. */
export interface DemoApp extends DemoAppSpec {
  /** The app's demo SPA + API upstream (its `requests` are what it received). */
  demo: DemoServer;
}

export interface DemoStack {
  /** The first app's URLs, cookie and upstream (the single-app API). */
  url: string;
  loginUrl: string;
  origin: string;
  appId: string;
  cookieName: string;
  demo: DemoServer;
  /** Every app, in the order given. */
  apps: DemoApp[];
  /** The app with this id (throws when there is none). */
  app(id: string): DemoApp;
  gatewayPort: number;
  user: { username: string; password: string } | null;
  op: OpHandle | null;
  redis: RedisHandle;
  bff: RunningBff;
  envoy: EnvoyHandle;
  xds: { apiAddress: string; token: string; xdsPort: number; httpPort: number };
  /** The key the wasm filter sends to the BFF's internal listener (tests prove it is no way in). */
  bffInternalKey: string;
  /** The wasm token-cache bound the gateway runs with, in seconds. */
  cacheMaxTtlS: number;
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

function requireRedis(): void {
  // The BFF keeps sessions only in Redis: without it there is no demo to run.
  if (process.env.SESSIONGATE_HARNESS === "containers") return;
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

export async function startDemoStack(opts: DemoOptions = {}): Promise<DemoStack> {
  const t0 = Date.now();
  const say = opts.log ?? (() => {});
  const idp = opts.idp === undefined ? externalIdpFromEnv() : opts.idp;
  requireRedis();
  const port = await gatewayPort(opts.port);
  let specs: DemoAppSpec[];
  try {
    specs = resolveApps(opts.apps, port, BFF_PREFIX, idp);
  } catch (err) {
    throw new DemoError((err as Error).message, 2);
  }

  const redis = await startRedis();
  say(`  redis        ${redis.url}`);

  // The OP is told the BFF's public address (back-channel logout) before the BFF starts.
  const [publicPort, internalPort] = [await freePort(), await freePort()];
  const bffPublic = `http://127.0.0.1:${publicPort}`;
  let op: OpHandle | null = null;
  if (!idp) {
    const { startOP } = await import("../harness/op.js");
    const audiences = specs.flatMap((a) => (a.audience ? [a.audience] : []));
    op = await startOP({
      clients: opClients(specs, bffPublic, BFF_PREFIX),
      ttl: opts.opAccessTokenTtlS,
      ...(audiences.length ? { resources: audiences } : {}),
      // First-party apps: another app of a group signs in silently without a consent step.
      skipConsent: specs.some((a) => a.group),
    });
    say(`  identity     ${op.issuer} (demo OpenID Provider)`);
  } else {
    say(`  identity     ${idp.issuer} (external provider, client ${idp.clientId})`);
    for (const a of specs) {
      if (a.group) throw new DemoError("app groups need the demo OP (one client for the group)", 2);
      say(`               register there: redirect URI ${a.authBase}/callback`);
      say(`               post-logout redirect URI ${a.authBase}/logout/callback`);
      say(
        `               back-channel logout URI ${a.authBase}/backchannel-logout (front-channel logout off)`,
      );
    }
    if (!idp.jwksUri) say("               JWKS URI: from the provider's discovery document");
  }
  const issuer = idp?.issuer ?? op!.issuer;
  const audience = idp?.audience ?? op!.audience;
  // Unset for an external provider without DEMO_JWKS_URI: the xds-server takes
  // it from the provider's discovery document when the app is registered.
  const jwksUri = idp ? idp.jwksUri : op!.jwksUri;

  // Both the BFF and Envoy take the apps from the xds-server: the BFF over its
  // BffDirectory stream with a token of its own, Envoy over ADS.
  const [xdsPort, apiPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(24).toString("base64url");
  const bffToken = randomBytes(24).toString("base64url");
  const internalKey = randomBytes(24).toString("base64url");
  const bff = await startBff(
    demoBffConfig({
      issuer,
      prefix: BFF_PREFIX,
      publicPort,
      internalPort,
      internalKey,
      redisUrl: redis.url,
      registry: { address: `127.0.0.1:${apiPort}`, token: bffToken },
      refreshSkewS: opts.bffRefreshSkewS,
    }),
    { defaultMetrics: false },
  );
  onCleanup(() => bff.close());
  say(`  bff          public ${bff.publicUrl}, internal ${bff.internalUrl}, apps from the registry`);

  const apps: DemoApp[] = [];
  for (const spec of specs) {
    // A variable, not a literal: server options the demo server does not
    // (yet) take are not a type error here.
    const serverOpts = {
      appId: spec.id,
      bffPrefix: BFF_PREFIX,
      mode: spec.mode,
      pathPrefix: spec.pathPrefix,
    };
    const demo = await startDemoServer(serverOpts);
    onCleanup(() => demo.stop());
    apps.push({ ...spec, demo });
    say(`  demo SPA+API ${demo.url} (app "${spec.id}", ${spec.mode})`);
  }

  const cacheMaxTtl = opts.cacheMaxTtlS ?? 5;
  await startProcess({
    name: "demo-xds-server",
    cmd: process.execPath,
    args: [
      "--import",
      "tsx",
      join(REPO_ROOT, "xds-server/main.ts"),
      `--xds-port=${xdsPort}`,
      // Envoy and the xds-server share this machine's loopback: plaintext ADS, asked for.
      "--xds-insecure",
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
    env: {
      SESSIONGATE_API_TOKEN: token,
      SESSIONGATE_BFF_TOKEN: bffToken,
      SESSIONGATE_BFF_INTERNAL_KEY: internalKey,
      // Client secrets are sealed with this key in the Redis registry.
      SESSIONGATE_SECRET_KEYS: `k1:${randomBytes(32).toString("base64")}`,
    },
    cwd: REPO_ROOT,
    ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
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
  say(`  envoy        http://127.0.0.1:${port} (admin ${envoy.adminUrl}), configured over ADS only`);

  const dir = mkdtempSync(join(tmpdir(), "sg-demo-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SESSIONGATE_SERVER: `127.0.0.1:${apiPort}`, SESSIONGATE_TOKEN: token };
  for (const app of apps) {
    const appFile = join(dir, `${app.id}-app.yaml`);
    const yaml = registrationYaml(app, {
      issuer,
      jwtIssuer: idp?.jwtIssuer ?? issuer,
      audience,
      jwksUri,
      upstreamPort: app.demo.port,
      // The registry's default is [openid]; the SPA shows the user's name and email.
      scopes: idp?.scopes ?? ["openid", "profile", "email"],
      authParams: idp?.authParams ?? {},
    });
    writeFileSync(appFile, yaml, { mode: 0o600 });
    const reg = await runCli(["apps", "register", "-f", appFile], env);
    if (reg.code !== 0)
      throw new DemoError(
        `sessiongate apps register failed for "${app.id}" (${reg.code}): ${`${reg.stdout}${reg.stderr}`.trim()}`,
        1,
      );
    say(`  registered   app "${app.id}" for ${app.host} via \`sessiongate apps register -f\``);
  }

  // Ready when Envoy routes every app: the BFF answers its session route (401 no_session).
  for (const app of apps) {
    await waitFor(
      `the gateway serving app "${app.id}"`,
      async () => {
        const s = await hostRequest(
          port,
          `${new URL(app.authBase).pathname}/session`,
          { host: app.host },
          { timeoutMs: 3000 },
        ).catch(() => null);
        return s?.status === 401 && s.body.includes("no_session");
      },
      30_000,
      100,
    );
  }
  say(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const first = apps[0];
  return {
    url: first.url,
    loginUrl: first.loginUrl,
    origin: first.origin,
    appId: first.id,
    cookieName: first.cookieName,
    demo: first.demo,
    apps,
    app: (id) => {
      const a = apps.find((x) => x.id === id);
      if (!a) throw new Error(`no demo app "${id}" (have ${apps.map((x) => x.id).join(", ")})`);
      return a;
    },
    gatewayPort: port,
    user: op ? { username: op.users[0].username, password: op.users[0].password } : null,
    op,
    redis,
    bff,
    envoy,
    xds: { apiAddress: env.SESSIONGATE_SERVER, token, xdsPort, httpPort },
    bffInternalKey: internalKey,
    cacheMaxTtlS: cacheMaxTtl,
    stop: () => stopAll(false),
  };
}

/** Whether the wasm module the xds-server serves has been built. */
export function wasmBuilt(): boolean {
  return existsSync(join(REPO_ROOT, "build/session-to-token.wasm"));
}
