// The app of a request as its route names it. The control plane puts each
// app's settings on the app's routes (route metadata, filter_metadata
// "sessiongate", key "app": one JSON string), so the plugin configuration
// lists no apps and stays the same when an app changes: no VM reconfiguration
// per change. Routes without that metadata (static configs) fall back to the
// plugin's `apps` list.
import { getProperty, LogLevel, log, propertyPath } from "./abi/host";
import { AppResult, parseRouteApp } from "./config";

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
