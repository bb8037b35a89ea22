// Programmatic entry: startBff(config) wires config -> Redis -> store -> OIDC -> HTTP.
import type { Server } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { AppSet } from "./apps/set.js";
import { RegistryWatch } from "./apps/watch.js";
import type { AppConfig, BffConfig } from "./config/schema.js";
import type { Ctx } from "./http/context.js";
import { secureContextOptions, watchInternalTls } from "./http/mtls.js";
import { createAdminServer, createInternalServer, createPublicServer } from "./http/server.js";
import { createLogger, type Logger } from "./log.js";
import { createMetrics } from "./metrics.js";
import { OidcClients } from "./oidc/client.js";
import type { OidcContext } from "./oidc/context.js";
import { CacheInvalidation, SessionCache } from "./session/cache.js";
import { GroupSignIns } from "./session/groups.js";
import { createRedis } from "./session/redis.js";
import { SessionStore } from "./session/store.js";

export { loadConfigFile } from "./config/load.js";
export { type AppConfig, type BffConfig, ConfigError, validateConfig } from "./config/schema.js";

export interface RunningBff {
  publicUrl: string;
  internalUrl: string;
  /** /metrics, /healthz, /readyz; undefined without `admin.listen`. */
  adminUrl?: string;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Collect Node process metrics (default true; off for in-process tests). */
  defaultMetrics?: boolean;
}

function listen(server: Server, host: string, port: number, scheme = "http"): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
      resolve(`${scheme}://${h === "0.0.0.0" ? "127.0.0.1" : h === "[::]" ? "[::1]" : h}:${a.port}`);
    });
  });
}

export async function startBff(config: BffConfig, opts: StartOptions = {}): Promise<RunningBff> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics(opts.defaultMetrics ?? true);
  // While Redis is down ioredis reports every reconnect attempt: log each distinct
  // message at most every 30 s (the counter still sees all of them).
  const lastLogged = new Map<string, number>();
  const redis = createRedis(config.redisUrl, (err) => {
    metrics.redisErrors.inc();
    const now = Date.now();
    if ((lastLogged.get(err.message) ?? 0) + 30_000 < now) {
      lastLogged.set(err.message, now);
      log.warn({ err: err.message }, "redis error");
    }
  });
  redis.on("ready", () => {
    metrics.redisUp.set(1);
    lastLogged.clear();
    log.info("redis ready");
  });
  redis.on("close", () => metrics.redisUp.set(0));
  // A hit does not slide the idle timeout; a read from Redis does, at least once per
  // max age while the session is used. A tenth of the idle timeout bounds how much
  // earlier than idle_timeout_s a session in use between hits can end (a half let a
  // session used every half idle timeout expire while in use), and the Redis key
  // (slid when the entry was read) still exists while the entry is served.
  const cacheMaxAgeMs = Math.min(config.sessionCacheMaxAgeMs, (config.idleTimeoutS * 1000) / 10);
  const cache =
    cacheMaxAgeMs > 0
      ? new SessionCache({
          maxAgeMs: cacheMaxAgeMs,
          maxEntries: config.sessionCacheMaxEntries,
          onLookup: (() => {
            const [hit, miss] = ["hit", "miss"].map((r) => metrics.sessionCacheLookups.labels({ result: r }));
            return (h: boolean) => (h ? hit : miss).inc();
          })(),
          onLive: (live) => {
            metrics.sessionCacheLive.set(live ? 1 : 0);
            if (!live) metrics.sessionCacheDrops.inc();
          },
        })
      : undefined;
  const store = new SessionStore(
    redis,
    {
      prefix: config.redisKeyPrefix,
      ring: config.keys,
      idleTimeoutS: config.idleTimeoutS,
      absoluteTimeoutS: config.absoluteTimeoutS,
    },
    cache,
  );
  const invalidation = cache
    ? new CacheInvalidation(redis, cache, store.channel, (err) => {
        metrics.redisErrors.inc();
        log.debug({ err: err.message }, "session cache subscriber: redis error");
      })
    : undefined;
  const clients = new OidcClients({
    timeoutMs: config.opTimeoutMs,
    allowInsecure: config.allowInsecureIssuer,
    log,
  });
  const oidc: OidcContext = {
    clients,
    store,
    groups: new GroupSignIns(redis, {
      prefix: config.redisKeyPrefix,
      ring: config.keys,
      absoluteTimeoutS: config.absoluteTimeoutS,
    }),
    ring: config.keys,
    loginTimeoutS: config.loginTimeoutS,
    prefix: config.prefix,
    refresh: {
      skewS: config.refreshSkewS,
      opTimeoutMs: config.opTimeoutMs,
      refreshWaitMs: config.refreshWaitMs,
      backoffMs: config.refreshBackoffMs,
      backoffMaxMs: config.refreshBackoffMaxMs,
    },
    metrics,
    log,
  };
  // Discovery per app, off the request path and never blocking other apps:
  // warmed when an app appears or changes, retried by the first request.
  const warm = (app: AppConfig) =>
    clients
      .get(app)
      .catch((err) => log.warn({ app: app.id, err: (err as Error).message }, "discovery failed; will retry"));
  const appSet = new AppSet(config.apps, log, (id, app) => {
    if (app) warm(app);
    else clients.forget(id);
  });
  const watch = config.registry
    ? new RegistryWatch(
        { registry: config.registry, prefix: config.prefix, allowInsecureIssuer: config.allowInsecureIssuer },
        appSet,
        metrics,
        log,
      )
    : undefined;
  const ctx: Ctx = {
    config,
    apps: appSet.live,
    ...(watch ? { registry: watch } : {}),
    oidc,
    store,
    metrics,
    log,
  };
  // Wait briefly for Redis so the first requests don't fail; start anyway if it is
  // down (requests get 503 and /readyz says so until it comes back).
  await new Promise<void>((resolve) => {
    if (redis.status === "ready") return resolve();
    const t = setTimeout(resolve, 3000);
    redis.once("ready", () => {
      clearTimeout(t);
      resolve();
    });
  });
  // Warm the OIDC discovery in the background; failures are retried per request.
  for (const app of config.apps) warm(app);
  watch?.start();
  const pub = createPublicServer(ctx);
  const internalTls = config.internalTls ? await watchInternalTls(config.internalTls, log) : undefined;
  const internal = createInternalServer(ctx, internalTls && secureContextOptions(internalTls.current));
  // A rotated certificate or bundle applies to new connections.
  internalTls?.onChange((m) => (internal as HttpsServer).setSecureContext(secureContextOptions(m)));
  const publicUrl = await listen(pub, config.publicListen.host, config.publicListen.port);
  const internalUrl = await listen(
    internal,
    config.internalListen.host,
    config.internalListen.port,
    internalTls ? "https" : "http",
  );
  const admin = config.admin ? createAdminServer(ctx) : undefined;
  const adminUrl =
    admin && config.admin
      ? await listen(admin, config.admin.listen.host, config.admin.listen.port)
      : undefined;
  log.info(
    {
      publicUrl,
      internalUrl,
      adminUrl: adminUrl ?? null,
      apps: config.apps.map((a) => `${a.id}:${a.mode}`),
      registry: config.registry?.address ?? null,
    },
    "sessiongate BFF listening",
  );
  let closed = false;
  if (!admin) log.info("no admin listener (admin.listen): /metrics is not served");
  return {
    publicUrl,
    internalUrl,
    ...(adminUrl ? { adminUrl } : {}),
    async close() {
      if (closed) return;
      closed = true;
      const stop = (s: Server) =>
        new Promise<void>((r) => {
          s.close(() => r());
          s.closeAllConnections();
        });
      watch?.close();
      internalTls?.close();
      await Promise.all([stop(pub), stop(internal), ...(admin ? [stop(admin)] : [])]);
      invalidation?.close();
      redis.disconnect();
    },
  };
}
