// From any error to a JSON answer, with one table from the BFF's error codes
// (bff/errors.ts) to an HTTP status and the answer's `error`: the process never
// crashes on a request.
import type { ServerResponse } from "node:http";
import { type ErrorCode, SessiongateError } from "../errors.js";
import { isOpUnavailable } from "../oidc/client.js";
import type { Ctx } from "./context.js";
import { sendJson } from "./util.js";

const ANSWERS: Record<ErrorCode, { status: number; error: string }> = {
  invalid_request: { status: 400, error: "invalid_request" },
  not_found: { status: 404, error: "not_found" },
  unknown_app: { status: 404, error: "unknown_app" },
  unknown_app_header: { status: 400, error: "unknown_app" },
  method_not_allowed: { status: 405, error: "method_not_allowed" },
  body_too_large: { status: 413, error: "body_too_large" },
  forbidden: { status: 403, error: "forbidden" },
  csrf_header_required: { status: 403, error: "csrf_header_required" },
  not_enabled: { status: 404, error: "not_enabled" },
  invalid_return_to: { status: 400, error: "invalid_return_to" },
  login_state_invalid: { status: 400, error: "invalid_request" },
  state_mismatch: { status: 400, error: "invalid_request" },
  iss_mismatch: { status: 400, error: "invalid_request" },
  // The provider's own error code goes in its place (SessiongateError.providerError).
  provider_error: { status: 400, error: "access_denied" },
  callback_replayed: { status: 400, error: "invalid_request" },
  invalid_grant: { status: 400, error: "invalid_grant" },
  unknown_group: { status: 404, error: "unknown_group" },
  group_mismatch: { status: 400, error: "invalid_request" },
  logout_token_invalid: { status: 400, error: "invalid_request" },
  logout_token_replayed: { status: 400, error: "invalid_request" },
  session_store_unavailable: { status: 503, error: "session_store_unavailable" },
  idp_unavailable: { status: 502, error: "idp_unavailable" },
  refresh_timeout: { status: 503, error: "refresh_timeout" },
  internal_error: { status: 500, error: "internal_error" },
};

export const statusOf = (code: ErrorCode): number => ANSWERS[code].status;

/**
 * The SessiongateError an error stands for. A failure of the server's own
 * (5xx) while the session store is down is reported as the store's: that is
 * what the operator has to fix.
 */
function classify(ctx: Ctx, err: unknown): SessiongateError {
  let e: SessiongateError;
  if (err instanceof SessiongateError) e = err;
  else if (isOpUnavailable(err)) e = new SessiongateError("idp_unavailable", (err as Error).message);
  else e = new SessiongateError("internal_error");
  if (statusOf(e.code) < 500 || !ctx.store.isUnavailable(err)) return e;
  ctx.metrics.redisErrors.inc();
  const message = err instanceof SessiongateError ? err.detail : (err as Error)?.message;
  return new SessiongateError("session_store_unavailable", `redis: ${message ?? "unavailable"}`);
}

/** Answers `err` (unless the answer has started: then the connection is dropped); returns the status. */
export function sendError(
  ctx: Ctx,
  res: ServerResponse,
  err: unknown,
  route: string,
  headers: Record<string, string | string[]> = {},
): number {
  const e = classify(ctx, err);
  const { status, error } = ANSWERS[e.code];
  const body = { error: e.providerError ?? error, ...(e.detail ? { error_description: e.detail } : {}) };
  if (status >= 500) ctx.log.warn({ route, status, err: (err as Error)?.message }, "request failed");
  if (!res.headersSent) sendJson(res, status, body, headers);
  else res.destroy();
  return status;
}
