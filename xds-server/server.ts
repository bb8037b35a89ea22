// Wires the layers into one control-plane process: store -> snapshot cache ->
// ADS; registration API; HTTP for the wasm module, metrics and health.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import pino, { type Logger } from "pino";
import { Registry } from "prom-client";
import { type NodeGate, spiffeNodeGate, trustClaims } from "./ads/auth.js";
import { addAdsService } from "./ads/service.js";
import { TokenAuth } from "./api/auth.js";
import { addBffDirectory } from "./api/bff-directory.js";
import { addApiService } from "./api/service.js";
import { StatusBoard } from "./api/status.js";
import { NodeSecrets } from "./cache/secrets.js";
import { SnapshotCache } from "./cache/snapshots.js";
import { certificateProvider } from "./identity/grpc.js";
import { type IdentityConfig, ServingIdentity } from "./identity/serving.js";
import { createMetrics } from "./metrics.js";
import { ADS_SERVICE, API_SERVICES, addReflection, Health } from "./operators.js";
import { MemoryStore } from "./registry/memory.js";
import { RedisStore } from "./registry/redis.js";
import { SecretBox, type SecretKeyRing } from "./registry/secrets.js";
import type { Store } from "./registry/store.js";
import type { TranslateConfig } from "./translate/types.js";
import { startWasmHttps, WASM_PATH } from "./wasm-https.js";

export interface ServerConfig {
  xds: { address: string; port: number };
  api: { address: string; port: number };
  http: { address: string; port: number };
  /** Host Envoy uses to fetch the wasm module from our HTTP server. */
  wasmFetchHost: string;
  /** In a mesh, the module is served over mTLS on this port instead (0: pick one). */
  wasmHttpsPort?: number;
  apiTokens: string[];
  /** Tokens for sessiongate.v1.BffDirectory (none: the directory refuses every call). */
  bffTokens?: string[];
  /** Client-secret encryption keys; absent: an ephemeral key (see README, "Secrets"). */
  secretKeys?: SecretKeyRing;
  /** TLS for the registration API; with clientCa, client certificates are required (mTLS). */
  apiTls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
  /** mTLS ADS with node authentication (the server's identity and CA). */
  identity?: IdentityConfig;
  /** Plaintext ADS, every node trusted as it claims; only when asked for (--xds-insecure). */
  xdsInsecure?: boolean;
  redisUrl?: string;
  redisPrefix: string;
  wasmFile?: string;
  bff: TranslateConfig["bff"];
  cache: TranslateConfig["cache"];
  gateway: TranslateConfig["gateway"];
  logLevel: string;
}

export interface RunningServer {
  xdsPort: number;
  apiPort: number;
  httpPort: number;
  store: Store;
  cache: SnapshotCache;
  status: StatusBoard;
  register: Registry;
  log: Logger;
  stop(): Promise<void>;
}

function bindGrpc(
  server: grpc.Server,
  address: string,
  port: number,
  creds = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${address}:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p)));
  });
}

export async function startServer(cfg: ServerConfig, logger?: Logger): Promise<RunningServer> {
  const log = logger ?? pino({ name: "sessiongate-xds-server", level: cfg.logLevel });
  if (!cfg.identity && !cfg.xdsInsecure)
    throw new Error("ADS needs an identity (mTLS) or an explicit xdsInsecure");
  // Before anything listens: a server that cannot prove who it is does not start.
  const identity = cfg.identity ? await ServingIdentity.start(cfg.identity, log) : undefined;
  if (identity)
    log.info(
      { id: identity.current.id, notAfter: identity.current.notAfter.toISOString() },
      "ADS over mTLS: nodes must present a certificate naming the node they claim",
    );
  else
    log.warn(
      { address: cfg.xds.address },
      "ADS in PLAINTEXT (--xds-insecure): any client reaching this port reads every configuration and may claim any node",
    );
  const register = new Registry();
  const metrics = createMetrics(register);
  const auth = new TokenAuth(cfg.apiTokens);
  const bffAuth = cfg.bffTokens?.length ? new TokenAuth(cfg.bffTokens) : undefined;
  const secrets = cfg.secretKeys ? new SecretBox(cfg.secretKeys) : SecretBox.ephemeral();
  if (secrets.ephemeral)
    log[cfg.redisUrl ? "error" : "warn"](
      { store: cfg.redisUrl ? "redis" : "memory" },
      "NO --secret-keys: client secrets are sealed with a random key held only by this process; after a restart (or on another replica) they cannot be decrypted and those apps are withheld from the BFF. Set --secret-keys.",
    );

  let wasm: { bytes: Buffer; sha256: string } | undefined;
  if (cfg.wasmFile) {
    try {
      const bytes = readFileSync(cfg.wasmFile);
      wasm = { bytes, sha256: createHash("sha256").update(bytes).digest("hex") };
    } catch (e) {
      log.warn(
        { file: cfg.wasmFile, err: (e as Error).message },
        "wasm module not readable: gateways get no session-to-token filter",
      );
    }
  }

  // The HTTP port must listen first (the wasm URL served to Envoy names it).
  // /healthz: the process is up (liveness). /readyz: 503 until every port is
  // bound and the registry is loaded (readiness: send traffic here).
  let serving = false;
  const servingWasmOverTls = Boolean(cfg.identity?.ca && wasm);
  const http: HttpServer = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === WASM_PATH && wasm && !servingWasmOverTls) {
      metrics.wasmFetches.inc();
      res.writeHead(200, {
        "content-type": "application/wasm",
        "content-length": wasm.bytes.length,
        "x-sha256": wasm.sha256,
      });
      res.end(wasm.bytes);
    } else if (req.method === "GET" && path === "/metrics") {
      register.metrics().then((text) => {
        res.writeHead(200, { "content-type": register.contentType });
        res.end(text);
      });
    } else if (req.method === "GET" && path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, ready: serving }));
    } else if (req.method === "GET" && path === "/readyz") {
      res.writeHead(serving ? 200 : 503, { "content-type": "application/json" });
      res.end(
        JSON.stringify(
          serving ? { ok: true, revision: store.snapshot().revision } : { ok: false, starting: true },
        ),
      );
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end('{"error":"not_found"}');
    }
  });
  await new Promise<void>((r) => http.listen(cfg.http.port, cfg.http.address, r));
  const httpPort = (http.address() as AddressInfo).port;

  // In a mesh gateways fetch the module over mTLS (wasm-https.ts), not from the plaintext port.
  const meshed = Boolean(cfg.identity && identity?.ca);
  const wasmHttps =
    meshed && wasm && identity && cfg.identity
      ? await startWasmHttps({
          wasm,
          identity,
          trustDomain: cfg.identity.trustDomain,
          address: cfg.http.address,
          port: cfg.wasmHttpsPort ?? 0,
          onFetch: () => metrics.wasmFetches.inc(),
        })
      : undefined;
  const translateCfg: TranslateConfig = {
    bff: cfg.bff,
    cache: cfg.cache,
    gateway: cfg.gateway,
    // Certificates for nodes over SDS need the CA's key: with only the
    // server's own files (an external CA), nodes keep the shared-key setup.
    ...(cfg.identity && meshed ? { mesh: { trustDomain: cfg.identity.trustDomain } } : {}),
    ...(wasm
      ? {
          wasm: wasmHttps
            ? {
                url: `https://${cfg.wasmFetchHost}:${wasmHttps.port}${WASM_PATH}`,
                sha256: wasm.sha256,
                codeServer: { host: cfg.wasmFetchHost, port: wasmHttps.port },
              }
            : {
                url: `http://${cfg.wasmFetchHost}:${httpPort}${WASM_PATH}`,
                sha256: wasm.sha256,
                codeServer: { host: cfg.wasmFetchHost, port: httpPort },
              },
        }
      : {}),
  };

  const store: Store = cfg.redisUrl
    ? new RedisStore({
        url: cfg.redisUrl,
        prefix: cfg.redisPrefix,
        bffPrefix: cfg.bff.prefix,
        onError: (e) => log.warn({ err: e.message }, "redis error"),
      })
    : new MemoryStore(cfg.bff.prefix);
  const cache = new SnapshotCache(translateCfg, log, (s) => metrics.snapshotBuild.observe(s));
  const status = new StatusBoard(metrics, log);
  store.onChange((snap) => {
    metrics.registryRevision.set(snap.revision);
    metrics.apps.set(snap.apps.length);
    cache.setRegistry(snap);
    log.info(
      { revision: snap.revision, apps: snap.apps.length },
      "registry changed; snapshots rebuilt on demand",
    );
  });
  await store.start();
  cache.setRegistry(store.snapshot());
  metrics.registryRevision.set(store.snapshot().revision);

  const ads = new grpc.Server({ "grpc.keepalive_time_ms": 30000, "grpc.keepalive_permit_without_calls": 1 });
  const adsHealth = new Health(ads, [ADS_SERVICE]);
  const gate: NodeGate = cfg.identity ? spiffeNodeGate(cfg.identity.trustDomain) : trustClaims;
  const nodeSecrets =
    identity?.ca && cfg.identity
      ? new NodeSecrets(cache, identity.ca, cfg.identity.certTtlSeconds, log)
      : undefined;
  addAdsService(ads, nodeSecrets ?? cache, status, log, gate);
  const tls = identity && certificateProvider(identity);
  const xdsCreds = tls && grpc.experimental.createCertificateProviderServerCredentials(tls, tls, true);
  const xdsPort = await bindGrpc(ads, cfg.xds.address, cfg.xds.port, xdsCreds);

  const api = new grpc.Server({ "grpc.max_receive_message_length": 1 << 20 });
  addApiService(api, { store, auth, secrets, bffAuth, status, metrics, log, bffPrefix: cfg.bff.prefix });
  addBffDirectory(api, { store, secrets, adminAuth: auth, bffAuth, metrics, log });
  const apiHealth = new Health(api, API_SERVICES);
  addReflection(api);
  const apiCreds = cfg.apiTls
    ? grpc.ServerCredentials.createSsl(
        cfg.apiTls.clientCa ?? null,
        [{ cert_chain: cfg.apiTls.cert, private_key: cfg.apiTls.key }],
        Boolean(cfg.apiTls.clientCa),
      )
    : undefined;
  const apiPort = await bindGrpc(api, cfg.api.address, cfg.api.port, apiCreds);
  serving = true;
  adsHealth.set("SERVING");
  apiHealth.set("SERVING");

  log.info(
    { xdsPort, apiPort, httpPort, store: store.kind, wasm: wasm?.sha256 ?? null },
    "sessiongate xds-server ready",
  );

  return {
    xdsPort,
    apiPort,
    httpPort,
    store,
    cache,
    status,
    register,
    log,
    async stop() {
      serving = false;
      adsHealth.set("NOT_SERVING");
      apiHealth.set("NOT_SERVING");
      ads.forceShutdown();
      api.forceShutdown();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await store.close();
      nodeSecrets?.close();
      await wasmHttps?.close();
      identity?.close();
    },
  };
}
