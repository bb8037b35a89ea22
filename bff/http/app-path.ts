// Which app a public request is for. Envoy routes <path_prefix><prefix>/<id>/
// to the BFF without rewriting the path (xds-server/translate/routes.ts), so
// an app registered under a path prefix is reached below it; file apps and
// apps on "/" sit right at <prefix>/<id>/. The prefix before the BFF prefix
// must be exactly the app's own: one app's routes are not reachable under
// another's path.
import type { AppConfig } from "../config/schema.js";
import type { Ctx } from "./context.js";

export interface AppPath {
  /** Undefined: no such app (404 unknown_app). */
  app?: AppConfig;
  appId: string;
  action: string;
}

/** Null when the path is not under the BFF prefix at all (404 not_found). */
export function resolveAppPath(ctx: Pick<Ctx, "config" | "apps">, pathname: string): AppPath | null {
  const marker = `${ctx.config.prefix}/`;
  let atRoot: AppPath | null = null;
  for (let k = pathname.indexOf(marker); k >= 0; k = pathname.indexOf(marker, k + 1)) {
    const rest = pathname.slice(k + marker.length);
    const slash = rest.indexOf("/");
    const appId = slash < 0 ? rest : rest.slice(0, slash);
    const action = slash < 0 ? "" : rest.slice(slash + 1);
    const app = ctx.apps.get(appId);
    if (app && app.routeBase === pathname.slice(0, k)) return { app, appId, action };
    if (k === 0) atRoot = { appId, action };
  }
  return atRoot;
}
