// Maps any thrown error to a JSON answer: the process never crashes on a request.
import type { ServerResponse } from "node:http";
import { isOpUnavailable, OpUnavailableError } from "../oidc/client.js";
import { LogoutTokenError } from "../oidc/logout-token.js";
import { RefreshTimeoutError } from "../oidc/tokens.js";
import { isRedisUnavailable } from "../session/redis.js";
import type { Ctx } from "./context.js";
import { HttpError, sendJson } from "./util.js";

export function sendError(ctx: Ctx, res: ServerResponse, err: unknown, route: string): number {
  let status = 500;
  let body: Record<string, string> = { error: "internal_error" };
  if (err instanceof HttpError) {
    status = err.status;
    body = err.detail ? { error: err.code, error_description: err.detail } : { error: err.code };
  } else if (err instanceof LogoutTokenError) {
    status = 400;
    body = { error: "invalid_request", error_description: err.message };
  } else if (ctx.redis.status !== "ready" || isRedisUnavailable(err)) {
    ctx.metrics.redisErrors.inc();
    status = 503;
    body = {
      error: "session_store_unavailable",
      error_description: `redis: ${(err as Error)?.message ?? "unavailable"}`,
    };
  } else if (err instanceof RefreshTimeoutError) {
    status = 503;
    body = { error: "refresh_timeout", error_description: err.message };
  } else if (err instanceof OpUnavailableError || isOpUnavailable(err)) {
    status = 502;
    body = { error: "idp_unavailable", error_description: (err as Error).message };
  }
  if (status >= 500) ctx.log.warn({ route, status, err: (err as Error)?.message }, "request failed");
  if (!res.headersSent) sendJson(res, status, body, err instanceof HttpError ? err.headers : {});
  else res.destroy();
  return status;
}
