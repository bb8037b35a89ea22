// Prometheus metrics, one registry per BFF instance (tests run several in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export function createMetrics(defaultMetrics: boolean) {
  const registry = new Registry();
  if (defaultMetrics) collectDefaultMetrics({ register: registry, prefix: "sessiongate_bff_" });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    logins: new Counter({
      name: "sessiongate_bff_logins_total",
      help: "Completed callbacks by app and result",
      labelNames: ["app", "result"],
      registers: [registry],
    }),
    logouts: new Counter({
      name: "sessiongate_bff_logouts_total",
      help: "Logouts by app and kind (rp, backchannel)",
      labelNames: ["app", "kind"],
      registers: [registry],
    }),
    refreshes: new Counter({
      name: "sessiongate_bff_refreshes_total",
      help: "Token refreshes at the OP by app and result",
      labelNames: ["app", "result"],
      registers: [registry],
    }),
    refreshBackoffs: new Counter({
      name: "sessiongate_bff_refresh_backoffs_total",
      help: "Due refreshes not attempted because the session's last refresh failed moments ago (backoff)",
      labelNames: ["app"],
      registers: [registry],
    }),
    refreshWaits: new Counter({
      name: "sessiongate_bff_refresh_waits_total",
      help: "Requests that waited for another replica's refresh",
      labelNames: ["app"],
      registers: [registry],
    }),
    refreshConflicts: new Counter({
      name: "sessiongate_bff_refresh_conflicts_total",
      help: "Lock contention events (lock busy, or fenced write refused)",
      labelNames: ["app", "kind"],
      registers: [registry],
    }),
    redisErrors: new Counter({
      name: "sessiongate_bff_redis_errors_total",
      help: "Redis command or connection errors",
      registers: [registry],
    }),
    opErrors: new Counter({
      name: "sessiongate_bff_op_errors_total",
      help: "Identity provider unreachable or 5xx",
      labelNames: ["app"],
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: "sessiongate_bff_redis_up",
      help: "1 while the Redis connection is ready",
      registers: [registry],
    }),
    sessionCacheLookups: new Counter({
      name: "sessiongate_bff_session_cache_lookups_total",
      help: "Session loads by the in-process session cache's answer (hit, miss)",
      labelNames: ["result"],
      registers: [registry],
    }),
    sessionCacheLive: new Gauge({
      name: "sessiongate_bff_session_cache_live",
      help: "1 while the session cache's invalidation channel is subscribed (the cache is used only then)",
      registers: [registry],
    }),
    sessionCacheDrops: new Counter({
      name: "sessiongate_bff_session_cache_drops_total",
      help: "Times the session cache was emptied because its invalidation subscription was lost",
      registers: [registry],
    }),
    registryConnected: new Gauge({
      name: "sessiongate_bff_registry_connected",
      help: "1 while the xds-server directory stream is up and synced",
      registers: [registry],
    }),
    registryUpdates: new Counter({
      name: "sessiongate_bff_registry_app_updates_total",
      help: "Directory stream events applied, by type (added, modified, deleted, synced, invalid)",
      labelNames: ["type"],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "sessiongate_bff_http_request_duration_seconds",
      help: "Request latency by listener, route and status",
      labelNames: ["listener", "route", "status"],
      buckets,
      registers: [registry],
    }),
    refreshDuration: new Histogram({
      name: "sessiongate_bff_refresh_duration_seconds",
      help: "OP refresh call latency",
      labelNames: ["app"],
      buckets,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
