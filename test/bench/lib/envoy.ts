// Starts the side-by-side Envoy (envoy/bench-side-by-side.yaml) through the
// harness at log level warning for every component (a benchmark must not pay
// for the wasm/lua debug logging tests use), and pins it to the Envoy CPU.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import {
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  renderTemplate,
  startEnvoy,
  WASM_PATH,
} from "../../harness/index.js";
import { pin } from "./pin.js";
import { APP_ID, COOKIE } from "./stack.js";

export const SIDE_BY_SIDE_YAML = join(REPO_ROOT, "envoy", "bench-side-by-side.yaml");
export const LUA_REFERENCE_YAML = join(REPO_ROOT, "envoy", "lua-reference.yaml");
export const LUA_FALLBACK = join(import.meta.dirname, "lua-fallback.lua");
export const EMPTY_FILTER = join(REPO_ROOT, "build", "empty-filter.wasm");

/** Builds filter/empty-filter (an empty proxy-wasm filter: the floor of any wasm filter) once per process. */
export function buildEmptyFilter(): string {
  if (!emptyBuilt) {
    execFileSync(
      join(REPO_ROOT, "node_modules", ".bin", "asc"),
      ["--config", "filter/empty-filter/asconfig.json"],
      {
        cwd: REPO_ROOT,
        stdio: "inherit",
      },
    );
    emptyBuilt = true;
  }
  return EMPTY_FILTER;
}
let emptyBuilt = false;

export interface Ports {
  a: number;
  b: number;
  c: number;
  d: number;
  e: number;
  f: number;
  g: number;
}

/** Where the peers' listeners (e) and (f) point: oauth2-proxy and the OP's endpoints. */
export interface PeerVars {
  /** The (f) listener's port: its redirect URI is registered at the OP before Envoy starts. */
  portF: number;
  o2pPort: number;
  opPort: number;
  tokenUri: string;
  authorizeUri: string;
  clientId: string;
  clientSecret: string;
  hmacSecret: string;
}

export interface BenchEnvoy {
  envoy: EnvoyHandle;
  ports: Ports;
  luaSource: string;
  pinned: boolean;
}

export function filterConfig(cache: boolean): string {
  return JSON.stringify({
    bff_cluster: "sessiongate_bff_internal",
    bff_authority: "sessiongate-bff",
    bff_path: "/internal/v1/session-token",
    bff_timeout_ms: 2000,
    cache: { enabled: cache, slots: 16384, skew_s: 10, max_ttl_s: 30 },
    apps: [{ id: APP_ID, hosts: ["*"], path_prefix: "/", cookie: COOKIE, allowed_origins: [] }],
  });
}

/** Values for the reference Lua's own placeholders (the bench app). */
export const LUA_VARS = {
  COOKIE_NAME: COOKIE,
  APP_ID,
  ALLOWED_ORIGIN: "https://localhost",
  BFF_TIMEOUT_MS: 2000,
};

/** The Lua source of envoy/lua-reference.yaml (its lua filter's inline code, placeholders filled), or null. */
export function luaReferenceSource(file = LUA_REFERENCE_YAML): string | null {
  if (!existsSync(file)) return null;
  let found: string | null = null;
  const walk = (v: unknown): void => {
    if (found || v === null || typeof v !== "object") return;
    const o = v as Record<string, unknown>;
    const type = String(o["@type"] ?? "");
    if (type.endsWith("lua.v3.Lua")) {
      const dsc = o.default_source_code as Record<string, unknown> | undefined;
      const code = dsc?.inline_string ?? o.inline_code;
      if (typeof code === "string") found = code;
    }
    for (const x of Object.values(o)) walk(x);
  };
  try {
    // Placeholders outside flow collections and inside block scalars parse as text.
    walk(parse(readFileSync(file, "utf8"), { logLevel: "error" }));
    // An unknown placeholder in the Lua makes renderTemplate throw: then the fallback is used.
    return found === null ? null : renderTemplate(found, LUA_VARS);
  } catch {
    return null;
  }
}

export async function startBenchEnvoy(o: {
  bffPort: number;
  issuer: string;
  audience: string;
  jwks: string;
  lua: string;
  cpus: string;
  name: string;
  /** A variant of envoy/bench-side-by-side.yaml (default: the file itself). */
  file?: string;
  /** The filter build to load (default: build/session-to-token.wasm). */
  wasmPath?: string;
  /** The peers (e) and (f); without it their listeners point at closed ports and stay idle. */
  peers?: PeerVars;
}): Promise<BenchEnvoy> {
  const peers: PeerVars = o.peers ?? {
    portF: await freePort(),
    o2pPort: await freePort(),
    opPort: await freePort(),
    tokenUri: "http://127.0.0.1:1/token",
    authorizeUri: "http://127.0.0.1:1/auth",
    clientId: "unused",
    clientSecret: "unused",
    hmacSecret: "unused",
  };
  const ports: Ports = {
    a: await freePort(),
    b: await freePort(),
    c: await freePort(),
    d: await freePort(),
    e: await freePort(),
    f: peers.portF,
    g: await freePort(),
  };
  const q = (s: string) => JSON.stringify(s);
  const envoy = await startEnvoy({
    file: o.file ?? SIDE_BY_SIDE_YAML,
    name: o.name,
    concurrency: 1,
    logLevel: "warning",
    vars: {
      PORT_A: ports.a,
      PORT_B: ports.b,
      PORT_C: ports.c,
      PORT_D: ports.d,
      PORT_E: ports.e,
      PORT_F: ports.f,
      PORT_G: ports.g,
      EMPTY_WASM_PATH: q(buildEmptyFilter()),
      O2P_PORT: peers.o2pPort,
      OP_PORT: peers.opPort,
      OP_TOKEN_URI: q(peers.tokenUri),
      OP_AUTHORIZE_URI: q(peers.authorizeUri),
      OAUTH2_CLIENT_ID: q(peers.clientId),
      OAUTH2_CLIENT_SECRET: q(peers.clientSecret),
      OAUTH2_HMAC_SECRET: q(peers.hmacSecret),
      BFF_PORT: o.bffPort,
      WASM_PATH: q(o.wasmPath ?? WASM_PATH),
      JWT_ISSUER: q(o.issuer),
      JWT_AUDIENCE: q(o.audience),
      JWKS_JSON: q(o.jwks),
      LUA_CODE: q(o.lua),
      FILTER_CONFIG_CACHE: q(filterConfig(true)),
      FILTER_CONFIG_NOCACHE: q(filterConfig(false)),
    },
  });
  const pinned = pin(envoy.proc.pid, o.cpus);
  return { envoy, ports, luaSource: o.lua, pinned };
}
