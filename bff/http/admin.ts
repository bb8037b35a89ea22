// Admin listener (`admin.listen`): /metrics for Prometheus, /healthz and
// /readyz for probes. Apart from the internal listener, so a scraper or the
// kubelet needs no way to the token endpoint. The probes are also answered on
// the internal listener (Envoy and existing probes keep working there).
import type { IncomingMessage, ServerResponse } from "node:http";
import { SessiongateError } from "../errors.js";
import type { Ctx } from "./context.js";
import { sendJson } from "./util.js";

export const HEALTH_PATHS = new Set(["/healthz", "/readyz"]);

/** /healthz: the process serves. /readyz: Redis answers and, with a registry, its first snapshot arrived. */
export async function handleHealth(ctx: Ctx, res: ServerResponse, path: string): Promise<string> {
  if (path === "/healthz") {
    sendJson(res, 200, { status: "ok" });
    return "healthz";
  }
  // With a registry, not ready before its first full snapshot: the app
  // set is unknown until then (afterwards an outage keeps the last one).
  if (ctx.registry && !ctx.registry.ready) {
    sendJson(res, 503, {
      status: "not_ready",
      error: "registry_not_synced",
      error_description: "waiting for the first app snapshot from the xds-server",
    });
    return "readyz";
  }
  const store = await ctx.store.health();
  sendJson(
    res,
    store.ready ? 200 : 503,
    store.ready
      ? { status: "ready" }
      : {
          status: "not_ready",
          error: "session_store_unavailable",
          error_description: `redis: ${store.status}`,
        },
  );
  return "readyz";
}

export async function handleAdmin(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<string> {
  if (req.method !== "GET" && req.method !== "HEAD") throw new SessiongateError("method_not_allowed");
  if (url.pathname === "/metrics") {
    const body = await ctx.metrics.registry.metrics();
    res.writeHead(200, { "content-type": ctx.metrics.registry.contentType });
    res.end(req.method === "HEAD" ? undefined : body);
    return "metrics";
  }
  if (HEALTH_PATHS.has(url.pathname)) return handleHealth(ctx, res, url.pathname);
  throw new SessiongateError("not_found");
}
