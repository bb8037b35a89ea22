// Counters defined through proxy_define_metric, so they show in Envoy's own
// /stats (Envoy prefixes wasm-defined metrics with "wasmcustom.").
import { defineCounter, incrementCounter } from "./abi/host";

export const PREFIX = "session_to_token.";

export class Metrics {
  hits: u32 = defineCounter(PREFIX + "hits");
  misses: u32 = defineCounter(PREFIX + "misses");
  bffErrors: u32 = defineCounter(PREFIX + "bff_errors");
  noSession: u32 = defineCounter(PREFIX + "no_session");
  csrfDenied: u32 = defineCounter(PREFIX + "csrf_denied");
  passthrough: u32 = defineCounter(PREFIX + "passthrough");
  badRoute: u32 = defineCounter(PREFIX + "bad_route_metadata");
}

export function inc(id: u32): void {
  incrementCounter(id);
}
