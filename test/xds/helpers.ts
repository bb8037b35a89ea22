// Test helpers for the xds-server: start the real control plane as a process,
// drive the real CLI, serve a JWKS and sign tokens with jose.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import YAML from "yaml";
import type { ServerConfig } from "../../xds-server/server.js";
import {
  freePort,
  type HostReply,
  hostRequest,
  onCleanup,
  REPO_ROOT,
  runCli,
  startProcess,
  waitFor,
} from "../harness/index.js";

export type { CliResult } from "../harness/index.js";

export const TOKEN = "test-token-0123456789abcdef";
/** Client-secret key shared by every control plane of a test run (replicas on one Redis must share keys). */
export const SECRET_KEYS = `t1:${Buffer.alloc(32, 7).toString("base64")}`;

export interface ControlPlane {
  xdsPort: number;
  apiPort: number;
  httpPort: number;
  api: string;
  stop(): Promise<void>;
  kill(): Promise<void>;
  /** Starts it again on the same ports (after stop/kill). */
  restart(): Promise<void>;
}

export async function startControlPlane(
  opts: { name?: string; redisUrl?: string; extraArgs?: string[] } = {},
): Promise<ControlPlane> {
  const [xdsPort, apiPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  const name = opts.name ?? "xds-server";
  const args = [
    "--import",
    "tsx",
    join(REPO_ROOT, "xds-server/main.ts"),
    `--xds-port=${xdsPort}`,
    // Loopback: plaintext ADS, asked for. mTLS ADS: test/xds/ads-mtls.e2e.test.ts.
    ...(opts.extraArgs?.some((a) => a.startsWith("--ca-cert") || a.startsWith("--xds-tls"))
      ? []
      : ["--xds-insecure"]),
    `--api-port=${apiPort}`,
    `--http-port=${httpPort}`,
    `--api-token=${TOKEN}`,
    "--gateway-address=127.0.0.1",
    `--wasm-file=${join(REPO_ROOT, "build/session-to-token.wasm")}`,
    ...(opts.redisUrl ? [`--redis-url=${opts.redisUrl}`] : []),
    ...(opts.redisUrl && !opts.extraArgs?.some((a) => a.startsWith("--secret-keys"))
      ? [`--secret-keys=${SECRET_KEYS}`]
      : []),
    ...(opts.extraArgs ?? []),
  ];
  const launch = () =>
    startProcess({
      name,
      cmd: process.execPath,
      args,
      cwd: REPO_ROOT,
      ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
      readyTimeoutMs: 30_000,
    });
  let proc = await launch();
  return {
    xdsPort,
    apiPort,
    httpPort,
    api: `127.0.0.1:${apiPort}`,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
    restart: async () => {
      proc = await launch();
    },
  };
}

/** The real `sessiongate` bin (the harness runner, under the name these tests use). */
export const cli = runCli;

const dir = mkdtempSync(join(tmpdir(), "sg-xds-"));
let n = 0;
export function writeApp(spec: object): string {
  const f = join(dir, `app-${++n}.yaml`);
  writeFileSync(f, YAML.stringify(spec));
  return f;
}

export interface Jwks {
  uri: string;
  issuer: string;
  sign(
    claims?: Record<string, unknown>,
    opts?: { aud?: string; iss?: string; expSeconds?: number },
  ): Promise<string>;
}

/** An issuer's JWKS served on loopback and a signer for its tokens. */
export async function startJwks(): Promise<Jwks> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onCleanup(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const issuer = "https://issuer.test";
  return {
    uri: `http://127.0.0.1:${port}/jwks.json`,
    issuer,
    sign: (claims = {}, o = {}) =>
      new SignJWT({ sub: "alice", ...claims })
        .setProtectedHeader({ alg: "RS256", kid: "k1" })
        .setIssuer(o.iss ?? issuer)
        .setAudience(o.aud ?? "api")
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (o.expSeconds ?? 600))
        .sign(privateKey),
  };
}

export function appSpec(
  id: string,
  o: { host?: string; prefix?: string; upstream: number; jwks: Jwks; extra?: object },
) {
  return {
    id,
    hosts: [o.host ?? `${id}.test`],
    path_prefix: o.prefix ?? "/",
    oidc: {
      issuer: "https://op.test",
      client_id: `${id}-client`,
      client_secret: `secret-of-${id}`,
      scopes: ["openid", "profile"],
    },
    session: { mode: "bff" },
    upstreams: [`127.0.0.1:${o.upstream}`],
    jwt: {
      issuer: o.jwks.issuer,
      audiences: ["api"],
      remote_jwks_uri: o.jwks.uri,
      claim_headers: [
        { claim: "sub", header: "x-user" },
        { claim: "email", header: "x-email" },
      ],
    },
    ...o.extra,
  };
}

/** GET through Envoy with a Host header. */
export const get = (port: number, path: string, headers: Record<string, string>): Promise<HostReply> =>
  hostRequest(port, path, headers);

/** Polls until `get` answers with `status`; returns the time it took (ms). */
export async function until(
  port: number,
  path: string,
  headers: Record<string, string>,
  status: number,
  timeoutMs = 20_000,
): Promise<number> {
  const t0 = performance.now();
  await waitFor(
    `${headers.host}${path} -> ${status}`,
    async () => {
      const r = await get(port, path, headers).catch(() => ({ status: 0 }));
      return r.status === status;
    },
    timeoutMs,
    20,
  );
  return performance.now() - t0;
}

/** A valid AppSpec in protobuf-es init form (camelCase), for API-level tests. */
export function baseSpec(id = "base"): Record<string, unknown> {
  return {
    id,
    hosts: [`${id}.test`],
    pathPrefix: "/",
    oidc: { issuer: "https://op.test", clientId: "c1", clientSecret: "s3cr3t-value", scopes: ["openid"] },
    session: { mode: "bff" },
    upstreams: ["127.0.0.1:8080"],
    jwt: {
      issuer: "https://op.test",
      audiences: ["api"],
      remoteJwksUri: "https://op.test/jwks",
      claimHeaders: [{ claim: "sub", header: "x-user" }],
    },
  };
}

/** Config for an in-process control plane on free ports (tests that need no Envoy). */
export function inProcessServerConfig(extra: Partial<ServerConfig> = {}): ServerConfig {
  return {
    xds: { address: "127.0.0.1", port: 0 },
    api: { address: "127.0.0.1", port: 0 },
    http: { address: "127.0.0.1", port: 0 },
    wasmFetchHost: "127.0.0.1",
    apiTokens: [TOKEN],
    xdsInsecure: true,
    redisPrefix: "sg:",
    bff: {
      publicAddr: { host: "127.0.0.1", port: 3000 },
      internalAddr: { host: "127.0.0.1", port: 3001 },
      prefix: "/auth",
      authority: "b",
      internalKey: "",
      timeoutMs: 2000,
    },
    cache: { enabled: true, slots: 16, skewS: 10, maxTtlS: 30 },
    gateway: { address: "127.0.0.1", port: 10000 },
    logLevel: "silent",
    ...extra,
  };
}
