// Prometheus metrics of the control plane, on a registry the caller owns (so
// several servers can live in one test process).
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export function createMetrics(register: Registry) {
  const registers = [register];
  return {
    apiRequests: new Counter({
      name: "sessiongate_api_requests_total",
      help: "Registration API calls by method and gRPC code",
      labelNames: ["method", "code"],
      registers,
    }),
    registryRevision: new Gauge({
      name: "sessiongate_registry_revision",
      help: "Registry revision this replica serves",
      registers,
    }),
    apps: new Gauge({ name: "sessiongate_apps", help: "Registered apps", registers }),
    xdsStreams: new Gauge({
      name: "sessiongate_xds_streams",
      help: "Connected ADS streams",
      labelNames: ["mode"],
      registers,
    }),
    xdsPushes: new Counter({
      name: "sessiongate_xds_pushes_total",
      help: "xDS responses sent",
      labelNames: ["type_url", "mode"],
      registers,
    }),
    xdsAcks: new Counter({
      name: "sessiongate_xds_acks_total",
      help: "xDS ACKs received",
      labelNames: ["type_url", "mode"],
      registers,
    }),
    xdsNacks: new Counter({
      name: "sessiongate_xds_nacks_total",
      help: "xDS NACKs received (config rejected by Envoy)",
      labelNames: ["type_url", "mode"],
      registers,
    }),
    snapshotBuild: new Histogram({
      name: "sessiongate_snapshot_build_seconds",
      help: "Time to translate and encode one node snapshot",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    }),
    wasmFetches: new Counter({
      name: "sessiongate_wasm_fetches_total",
      help: "Wasm module downloads served",
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
