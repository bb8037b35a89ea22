// Public router: <prefix>/<app id>/<action>. The app id in the path picks the app
// (one provider client, cookie and redirect URIs per app), so no Envoy header is needed.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import { sessionInfo as sessionOf } from "../oidc/session.js";
import { accessToken } from "../oidc/tokens.js";
import { resolveAppPath } from "./app-path.js";
import { clientScript } from "./client.js";
import type { Ctx } from "./context.js";
import { checkCsrfHeader, checkSameOrigin } from "./csrf.js";
import { groupPath, handleGroup } from "./group.js";
import { callback, login } from "./login.js";
import { backchannelLogout, logout, logoutCallback } from "./logout.js";
import { clearCookie, parseCookies, sendJson, sessionCookie } from "./util.js";

type Handler = (
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
) => Promise<void> | void;

const ROUTES: Record<string, { methods: string[]; handler: Handler }> = {
  login: { methods: ["GET"], handler: login },
  callback: { methods: ["GET"], handler: callback },
  logout: { methods: ["GET", "POST"], handler: logout },
  "logout/callback": { methods: ["GET"], handler: logoutCallback },
  session: { methods: ["GET"], handler: sessionInfo },
  token: { methods: ["GET", "POST"], handler: token },
  "backchannel-logout": { methods: ["POST"], handler: backchannelLogout },
  "client.js": { methods: ["GET", "HEAD"], handler: clientScript },
};

export const PUBLIC_ACTIONS = new Set(Object.keys(ROUTES));

/** Returns the route label (for metrics) and runs it; throws a SessiongateError for bad paths. */
export async function handlePublic(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<string> {
  const group = groupPath(ctx.config.prefix, url.pathname);
  if (group) return handleGroup(ctx, req, res, url, group);
  const at = resolveAppPath(ctx, url.pathname);
  if (!at) throw new SessiongateError("not_found");
  const { app, action } = at;
  if (!app) throw new SessiongateError("unknown_app");
  const route = ROUTES[action];
  if (!route) throw new SessiongateError("not_found");
  if (!route.methods.includes(req.method ?? "")) throw new SessiongateError("method_not_allowed");
  await route.handler(ctx, app, req, res, url);
  return action;
}

async function sessionInfo(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const id = sessionCookie(req, app);
  const s = id ? await sessionOf(ctx.oidc, app, id) : null;
  if (!s) {
    sendJson(
      res,
      401,
      { error: "no_session" },
      parseCookies(req.headers.cookie).has(app.cookie) ? { "set-cookie": clearCookie(app.cookie) } : {},
    );
    return;
  }
  // User info only: never tokens or the session id (invariant 1).
  sendJson(res, 200, {
    authenticated: true,
    app: app.id,
    mode: app.mode,
    sub: s.sub,
    user: { sub: s.sub, ...s.user },
    session_expires_at: new Date(s.expiresAt).toISOString(),
  });
}

async function token(ctx: Ctx, app: AppConfig, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (app.mode !== "tokenExchange")
    throw new SessiongateError("not_enabled", "the token endpoint exists in tokenExchange mode only");
  checkCsrfHeader(req);
  checkSameOrigin(req, app);
  const id = sessionCookie(req, app);
  const t = id ? await accessToken(ctx.oidc, app, id) : null;
  if (!t) {
    sendJson(res, 401, { error: "no_session" });
    return;
  }
  // The access token only: never the refresh or ID token (invariant 1).
  sendJson(res, 200, { access_token: t.accessToken, token_type: "Bearer", expires_in: t.expiresIn });
}
