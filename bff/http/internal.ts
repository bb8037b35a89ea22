// Internal listener (127.0.0.1 by default, never routed by Envoy): the filter's
// token endpoint (docs/architecture.md#filter-to-bff-internal-endpoint), /metrics, /healthz, /readyz.

import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HEADER, INTERNAL_TOKEN_PATH, isSessionId } from "../../contracts/rules.js";
import type { Ctx } from "./context.js";
import { refuseCaller } from "./mtls.js";
import { HttpError, header, sendJson } from "./util.js";

function keyMatches(expected: string, got: string | undefined): boolean {
  if (got === undefined) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(got);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function handleInternal(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<string> {
  switch (url.pathname) {
    case INTERNAL_TOKEN_PATH: {
      if (req.method !== "GET") throw new HttpError(405, "method_not_allowed");
      if (ctx.config.internalTls) {
        const refused = refuseCaller(req, ctx.config.internalTls);
        if (refused) throw new HttpError(403, "forbidden", refused);
      }
      if (ctx.config.internalKey && !keyMatches(ctx.config.internalKey, header(req, HEADER.internalKey))) {
        throw new HttpError(403, "forbidden", `${HEADER.internalKey} missing or wrong`);
      }
      const appId = header(req, HEADER.app);
      const app = appId ? ctx.apps.get(appId) : undefined;
      if (!app) throw new HttpError(400, "unknown_app", `${HEADER.app} missing or not configured`);
      const sessionId = header(req, HEADER.session);
      const t = sessionId && isSessionId(sessionId) ? await ctx.tokens.get(app, sessionId) : null;
      if (!t) sendJson(res, 401, { error: "no_session" });
      else sendJson(res, 200, { access_token: t.accessToken, token_type: "Bearer", expires_in: t.expiresIn });
      return "session-token";
    }
    case "/metrics": {
      const body = await ctx.metrics.registry.metrics();
      res.writeHead(200, { "content-type": ctx.metrics.registry.contentType });
      res.end(body);
      return "metrics";
    }
    case "/healthz":
      sendJson(res, 200, { status: "ok" });
      return "healthz";
    case "/readyz": {
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
      let ok = ctx.redis.status === "ready";
      if (ok)
        ok = await ctx.redis.ping().then(
          () => true,
          () => false,
        );
      sendJson(
        res,
        ok ? 200 : 503,
        ok
          ? { status: "ready" }
          : {
              status: "not_ready",
              error: "session_store_unavailable",
              error_description: `redis: ${ctx.redis.status}`,
            },
      );
      return "readyz";
    }
    default:
      throw new HttpError(404, "not_found");
  }
}
