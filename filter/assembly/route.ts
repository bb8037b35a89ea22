// The app of a request. The control plane puts each app's settings on the
// app's routes (route metadata, filter_metadata "sessiongate", key "app": one
// JSON string), so the plugin configuration lists no apps and stays the same
// when an app changes: no VM reconfiguration per change. Routes without that
// metadata (static configs) fall back to the plugin's `apps` list, matched by
// host and path (matchApp).
import { getProperty, LogLevel, log, propertyPath } from "./abi/host";
import { AppConfig, AppResult, Config, parseRouteApp } from "./config";

export const ROUTE_NAMESPACE = "sessiongate";
export const ROUTE_KEY = "app";

const PATH = propertyPath(["xds", "route_metadata", "filter_metadata", ROUTE_NAMESPACE, ROUTE_KEY]);

// Distinct values are about one per app; old ones stay behind when apps
// change, so the table is emptied when it reaches this size (a bound, not a
// working set: the next requests parse their value once again).
const MAX_ENTRIES = 16384;

export class RouteApps {
  private parsed: Map<string, AppResult> = new Map<string, AppResult>();

  /**
   * The matched route's app (parsed once per distinct value), an AppResult
   * with `app === null` and the problem when the metadata is malformed, or
   * null when the route carries none.
   */
  lookup(): AppResult | null {
    const raw = getProperty(PATH);
    if (raw === null) return null;
    const text = String.UTF8.decode(raw);
    if (this.parsed.has(text)) return this.parsed.get(text);
    const r = parseRouteApp(text);
    // Logged when first seen, not per request: a broken route must not flood the log.
    if (r.app === null) log(LogLevel.Error, "session-to-token: " + r.error);
    if (this.parsed.size >= MAX_ENTRIES) this.parsed.clear();
    this.parsed.set(text, r);
    return r;
  }
}

/**
 * Whether `path` (a :path, query included) lies under `prefix` the way the
 * control plane's routes match (path_separated_prefix): "/api" matches "/api",
 * "/api/x" and "/api?q", never "/apiary". A prefix ending in '/' matches below it.
 */
export function underPrefix(path: string, prefix: string): bool {
  if (!path.startsWith(prefix)) return false;
  if (prefix.endsWith("/") || path.length == prefix.length) return true;
  const c = path.charCodeAt(prefix.length);
  return c == 0x2f || c == 0x3f; // '/' or '?'
}

/** Picks the app for a request: host match ("*" or exact, case-insensitive), longest path prefix, exact host over "*". */
export function matchApp(c: Config, authority: string, path: string): AppConfig | null {
  const host = authority.toLowerCase();
  let best: AppConfig | null = null;
  let bestLen = -1;
  let bestExact = false;
  for (let i = 0; i < c.apps.length; i++) {
    const app = c.apps[i];
    let exact = false;
    let any = false;
    for (let j = 0; j < app.hosts.length; j++) {
      if (app.hosts[j] == host) exact = true;
      else if (app.hosts[j] == "*") any = true;
    }
    if (!exact && !any) continue;
    if (!underPrefix(path, app.pathPrefix)) continue;
    const len = app.pathPrefix.length;
    if (len > bestLen || (len == bestLen && exact && !bestExact)) {
      best = app;
      bestLen = len;
      bestExact = exact;
    }
  }
  return best;
}
