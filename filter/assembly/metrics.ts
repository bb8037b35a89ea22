// Counters defined through proxy_define_metric, so they show in Envoy's own
// /stats (Envoy prefixes wasm-defined metrics with "wasmcustom.").
//
// Two forms of each counter:
// - `session_to_token.<name>`: the total over every app (kept: dashboards and
//   tests read these names);
// - `session_to_token.app.<app id>.<name>_total`, per app (`_none` when the
//   request has no app), for Prometheus: with the stats tag
//   `{tag_name: app, regex: "^wasmcustom\\.session_to_token\\.(app\\.(.+?)\\.)"}`
//   in the bootstrap's stats_config, Envoy exports them as
//   `session_to_token_<name>_total{app="<id>"}`.
import { defineCounter, incrementCounter } from "./abi/host";
import { AppConfig } from "./config";

export const PREFIX = "session_to_token.";
const NAMES: string[] = [
  "hits",
  "misses",
  "bff_errors",
  "no_session",
  "csrf_denied",
  "passthrough",
  "bad_route_metadata",
];
/** The app label of requests without an app (app ids never start with '_'). */
const NO_APP = "_none";
/** Apps with counters of their own; past this, only the totals count (a bound on Envoy's stats memory). */
const MAX_APPS = 1024;

export class Metrics {
  hits: u32 = defineCounter(PREFIX + NAMES[0]);
  misses: u32 = defineCounter(PREFIX + NAMES[1]);
  bffErrors: u32 = defineCounter(PREFIX + NAMES[2]);
  noSession: u32 = defineCounter(PREFIX + NAMES[3]);
  csrfDenied: u32 = defineCounter(PREFIX + NAMES[4]);
  passthrough: u32 = defineCounter(PREFIX + NAMES[5]);
  badRoute: u32 = defineCounter(PREFIX + NAMES[6]);
  /** The total counters' ids in NAMES order: inc() finds an id's index by a scan of these 7, no map. */
  totals: StaticArray<u32> = new StaticArray<u32>(NAMES.length);
  /** App id -> its counters, in NAMES order. */
  perApp: Map<string, u32[]> = new Map<string, u32[]>();
  /**
   * The counters of requests without an app, kept at hand: every request
   * starts counting for "no app" (filter.ts), so this skips a string-keyed
   * map lookup on every request. Defined on first use, like an app's.
   */
  noApp: u32[] | null = null;

  constructor() {
    const t = this.totals;
    t[0] = this.hits;
    t[1] = this.misses;
    t[2] = this.bffErrors;
    t[3] = this.noSession;
    t[4] = this.csrfDenied;
    t[5] = this.passthrough;
    t[6] = this.badRoute;
  }

  countersOf(app: string): u32[] | null {
    if (this.perApp.has(app)) return this.perApp.get(app);
    if (this.perApp.size >= MAX_APPS) return null;
    const ids: u32[] = [];
    for (let i = 0; i < NAMES.length; i++)
      ids.push(defineCounter(PREFIX + "app." + app + "." + NAMES[i] + "_total"));
    this.perApp.set(app, ids);
    return ids;
  }
}

// The app the current callback counts for: set when a request's app is known
// (filter.ts), so the call sites count with inc(id) alone. Wasm runs one
// callback at a time per VM, so a module-level value is safe.
let current: u32[] | null = null;
let owner: Metrics | null = null;

/** Counts the following inc() calls for this app (null: a request without an app). */
export function countFor(m: Metrics, app: string | null): void {
  owner = m;
  if (app !== null) {
    current = m.countersOf(app);
    return;
  }
  if (m.noApp === null) m.noApp = m.countersOf(NO_APP);
  current = m.noApp;
}

/**
 * countFor(m, app.id) with the app's counters kept on its AppConfig: a
 * request skips the string-keyed map lookup of its app id.
 */
export function countForApp(m: Metrics, app: AppConfig): void {
  owner = m;
  let c = app.counters;
  if (c === null) {
    c = m.countersOf(app.id);
    // Past MAX_APPS there are none: the lookup is then made again for each request (totals only).
    app.counters = c;
  }
  current = c;
}

export function inc(id: u32): void {
  incrementCounter(id);
  const m = owner;
  const per = current;
  if (m === null || per === null) return;
  const t = m.totals;
  for (let i = 0; i < t.length; i++) {
    if (unchecked(t[i]) == id) {
      incrementCounter(per[i]);
      return;
    }
  }
}
