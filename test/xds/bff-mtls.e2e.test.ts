// No shared secret in configuration: with workload identities the gateway's
// call to the BFF's internal listener is mTLS (its client certificate comes
// over SDS from the xds-server), the BFF checks the caller's SPIFFE id, and
// the control plane writes no bff_internal_key into the ECDS plugin config.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { CertificateAuthority, type IssuedIdentity } from "../../xds-server/identity/ca.js";
import { KEY1 } from "../bff/helpers.js";
import {
  type EnvoyHandle,
  freePort,
  onCleanup,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startRedis,
  waitFor,
} from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  get,
  startControlPlane,
  startJwks,
  TOKEN,
  writeApp,
} from "./helpers.js";
import { writeIdentityFiles } from "./identity-files.js";

const TD = "mesh.test";
const INTERNAL_KEY = "shared-secret-that-must-not-travel";
const dir = mkdtempSync(join(tmpdir(), "sg-bff-mtls-"));
let ca: CertificateAuthority;
let cp: ControlPlane;
let bff: RunningBff;
let envoy: EnvoyHandle;
let gwPort: number;
let internalPort: number;

/** GET the BFF's token endpoint directly over HTTPS, with or without a client certificate. */
function tokenCall(id?: IssuedIdentity): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: internalPort,
        path: "/internal/v1/session-token",
        ca: ca.bundlePem,
        servername: "",
        checkServerIdentity: () => undefined,
        ...(id ? { cert: id.certChainPem, key: id.keyPem } : {}),
        headers: { "x-sessiongate-app": "shop", "x-sessiongate-session": "nosuchsession" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", (e) => resolve(`error: ${e.message}`));
    req.end();
  });
}

beforeAll(async () => {
  ca = await CertificateAuthority.generate(TD);
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  const redis = await startRedis();
  [internalPort, gwPort] = [await freePort(), await freePort()];
  const bffFiles = writeIdentityFiles(
    dir,
    "bff",
    await ca.issue({ role: "bff", name: "bff-0", ttlSeconds: 3600 }),
  );
  bff = await startBff(
    validateConfig({
      log_level: "warn",
      allow_insecure_issuer: true,
      public: { listen: "127.0.0.1:0" },
      internal: {
        listen: `127.0.0.1:${internalPort}`,
        tls: { cert_file: bffFiles.cert, key_file: bffFiles.key, ca_file: bffFiles.ca, trust_domain: TD },
      },
      redis: { url: redis.url },
      keys: { active: "k1", keys: { k1: KEY1 } },
      apps: [
        {
          id: "shop",
          mode: "bff",
          issuer: "http://127.0.0.1:1",
          client_id: "shop",
          client_secret: "shop-secret-0123456789",
          redirect_uri: "https://shop.test/auth/shop/callback",
        },
      ],
    }),
  );
  onCleanup(() => bff.close());
  cp = await startControlPlane({
    name: "xds-bff-mtls",
    extraArgs: [
      `--trust-domain=${TD}`,
      `--ca-cert=${join(dir, "ca.pem")}`,
      `--ca-key=${join(dir, "ca.key")}`,
      `--bff-internal=127.0.0.1:${internalPort}`,
      // Configured, yet never written into the gateway's config in a mesh.
      `--bff-internal-key=${INTERNAL_KEY}`,
    ],
  });
  const [echo, jwks] = await Promise.all([startEcho(), startJwks()]);
  const env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
  const r = await cli(
    ["apps", "register", "-f", writeApp(appSpec("shop", { upstream: echo.port, jwks }))],
    env,
  );
  expect(r.code, r.stderr).toBe(0);
  const gw = writeIdentityFiles(
    dir,
    "gw-1",
    await ca.issue({ role: "gateway", name: "gw-1", ttlSeconds: 3600 }),
  );
  envoy = await startEnvoy({
    file: join(REPO_ROOT, "envoy/gateway-ads-mtls.yaml"),
    name: "gw-bff-mtls",
    vars: {
      NODE_ID: "gw-1",
      XDS_HOST: "127.0.0.1",
      XDS_PORT: cp.xdsPort,
      LISTENER_ADDRESS: "127.0.0.1",
      LISTENER_PORT: gwPort,
      CERT_FILE: gw.cert,
      KEY_FILE: gw.key,
      CA_FILE: gw.ca,
      XDS_SPIFFE_ID: `spiffe://${TD}/xds-server/xds`,
    },
  });
});

describe("gateway → BFF over mTLS", () => {
  it("the gateway reaches the BFF's token endpoint with its SDS certificate (401 from the BFF, not 503)", async () => {
    const cookie = `__Host-sg-shop=${randomBytes(32).toString("base64url")}`;
    // 401 no_session is the BFF's answer: the handshake and the caller check
    // passed. A refused or failed call would make the filter answer 503.
    const status = await waitFor("a 401 from the BFF through the gateway", async () => {
      const r = await get(gwPort, "/x", { host: "shop.test", cookie }).catch(() => ({ status: 0 }));
      return r.status === 401 || r.status === 503 ? r.status : undefined;
    });
    expect(status).toBe(401);
    const stats = await envoy.stats();
    expect(stats.get("cluster.sessiongate_bff_internal.ssl.handshake")).toBeGreaterThan(0);
  });

  it("the control plane writes no bff_internal_key into the gateway's configuration", async () => {
    const dump = JSON.stringify(await envoy.configDump());
    expect(dump).toContain("session-to-token");
    expect(dump).not.toContain("bff_internal_key");
    expect(dump).not.toContain(INTERNAL_KEY);
  });

  it("the wasm module comes over HTTPS from the xds-server, only to gateway and sidecar certificates, still pinned by sha256", async () => {
    const dump = JSON.stringify(await envoy.configDump());
    const uri = /"uri":"(https:\/\/127\.0\.0\.1:(\d+)\/wasm\/session-to-token\.wasm)"/.exec(dump);
    expect(uri, "an https wasm uri in the gateway's config").not.toBeNull();
    expect(dump).toMatch(/"sha256":"[0-9a-f]{64}"/);
    // The plaintext port no longer serves it.
    expect((await fetch(`http://127.0.0.1:${cp.httpPort}/wasm/session-to-token.wasm`)).status).toBe(404);
    const fetchWasm = (id?: IssuedIdentity) =>
      new Promise<number | string>((resolve) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: Number(uri![2]),
            path: "/wasm/session-to-token.wasm",
            ca: ca.bundlePem,
            checkServerIdentity: () => undefined,
            ...(id ? { cert: id.certChainPem, key: id.keyPem } : {}),
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", (e) => resolve(`error: ${e.message}`));
        req.end();
      });
    expect(await fetchWasm(await ca.issue({ role: "gateway", name: "gw-7", ttlSeconds: 600 }))).toBe(200);
    expect(await fetchWasm(await ca.issue({ role: "sidecar", name: "svc", ttlSeconds: 600 }))).toBe(200);
    expect(await fetchWasm(await ca.issue({ role: "bff", name: "b", ttlSeconds: 600 }))).toBe(403);
    expect(await fetchWasm()).toMatch(/^error/);
  });

  it("the BFF's token endpoint refuses callers without a mesh certificate of role gateway or sidecar", async () => {
    const foreign = await (await CertificateAuthority.generate(TD)).issue({
      role: "gateway",
      name: "gw-1",
      ttlSeconds: 600,
    });
    expect(await tokenCall()).toBe(403);
    expect(await tokenCall(foreign)).toBe(403);
    expect(await tokenCall(await ca.issue({ role: "bff", name: "other", ttlSeconds: 600 }))).toBe(403);
    expect(await tokenCall(await ca.issue({ role: "xds-server", name: "x", ttlSeconds: 600 }))).toBe(403);
    // Allowed callers reach the endpoint itself (no such session: 401).
    expect(await tokenCall(await ca.issue({ role: "gateway", name: "gw-9", ttlSeconds: 600 }))).toBe(401);
    expect(await tokenCall(await ca.issue({ role: "sidecar", name: "svc", ttlSeconds: 600 }))).toBe(401);
    // Plain HTTP to the HTTPS listener gets nothing.
    const plain = await fetch(`http://127.0.0.1:${internalPort}/internal/v1/session-token`).catch(
      (e: Error) => `error: ${e.message}`,
    );
    expect(typeof plain === "string" || plain.status === 400).toBe(true);
  });
});
