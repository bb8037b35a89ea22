// Internal listener (127.0.0.1 by default, never routed by Envoy): the filter's
// token endpoint (docs/architecture.md#filter-to-bff-internal-endpoint), /healthz,
// /readyz. /metrics is on the admin listener only (admin.ts).

import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { HEADER, INTERNAL_TOKEN_PATH, isSessionId } from "../../contracts/rules.js";
import { SessiongateError } from "../errors.js";
import { accessToken } from "../oidc/tokens.js";
import { handleHealth } from "./admin.js";
import type { Ctx } from "./context.js";
import { refuseCaller } from "./mtls.js";
import { header, sendJson } from "./util.js";

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
      if (req.method !== "GET") throw new SessiongateError("method_not_allowed");
      if (ctx.config.internalTls) {
        const refused = refuseCaller(req, ctx.config.internalTls);
        if (refused) throw new SessiongateError("forbidden", refused);
      }
      if (ctx.config.internalKey && !keyMatches(ctx.config.internalKey, header(req, HEADER.internalKey))) {
        throw new SessiongateError("forbidden", `${HEADER.internalKey} missing or wrong`);
      }
      const appId = header(req, HEADER.app);
      const app = appId ? ctx.apps.get(appId) : undefined;
      if (!app) throw new SessiongateError("unknown_app_header", `${HEADER.app} missing or not configured`);
      const sessionId = header(req, HEADER.session);
      const t = sessionId && isSessionId(sessionId) ? await accessToken(ctx.oidc, app, sessionId) : null;
      if (!t) sendJson(res, 401, { error: "no_session" });
      else sendJson(res, 200, { access_token: t.accessToken, token_type: "Bearer", expires_in: t.expiresIn });
      return "session-token";
    }
    case "/healthz":
    case "/readyz":
      return handleHealth(ctx, res, url.pathname);
    default:
      throw new SessiongateError("not_found");
  }
}
