// logout (RP-initiated), logout/callback and OIDC back-channel logout: parse,
// call bff/oidc/logout.ts, render.
import type { IncomingMessage, ServerResponse } from "node:http";
import { groupCookieName } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import * as flow from "../oidc/logout.js";
import type { Ctx } from "./context.js";
import { checkSameOrigin } from "./csrf.js";
import { clearCookie, readBody, redirect, sessionCookie } from "./util.js";

export async function logout(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // The session ends only on a POST the app itself made: a link, an image or a
  // same-site page must not log the user out. A GET gets a page whose button
  // makes that POST; the POST must come from the app's own origin.
  if (req.method !== "POST") {
    logoutPage(res);
    return;
  }
  checkSameOrigin(req, app);
  const { redirectTo } = await flow.logout(ctx.oidc, app, sessionCookie(req, app));
  // An app of a group signs the browser out of the group: its sign-in cookie goes too.
  const cookies = [
    clearCookie(app.cookie),
    ...(app.group ? [clearCookie(groupCookieName(app.group), "Lax")] : []),
  ];
  redirect(res, redirectTo, cookies, 303);
}

/** The answer to a GET of logout: a button that POSTs to the same URL, never a logout. */
function logoutPage(res: ServerResponse): void {
  const html =
    '<!doctype html><meta charset="utf-8"><title>Log out</title>' +
    '<form method="post"><button type="submit">Log out</button></form>';
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    // Not in a frame (no clickjacking of the button), no script, the form posts here only.
    "content-security-policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

/**
 * The provider's way back after logout. It clears no cookie: the logout POST
 * already did, and a GET anyone can link to must not end a session, not even
 * in the browser (a top-level cross-site navigation may set SameSite cookies).
 */
export function logoutCallback(_ctx: Ctx, app: AppConfig, _req: IncomingMessage, res: ServerResponse): void {
  redirect(res, `${app.publicOrigin}/`);
}

export async function backchannelLogout(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  await flow.backchannelLogout(ctx.oidc, app, readLogoutToken(req));
  res.writeHead(200, { "cache-control": "no-store" });
  res.end();
}

/** The one `logout_token` of a back-channel logout POST (form-encoded). */
export function readLogoutToken(req: IncomingMessage): string {
  if (req.method !== "POST") throw new SessiongateError("method_not_allowed");
  const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (ct !== "application/x-www-form-urlencoded")
    throw new SessiongateError("invalid_request", "expected application/x-www-form-urlencoded");
  const form = new URLSearchParams(readBody(req));
  const token = form.get("logout_token");
  if (!token || form.getAll("logout_token").length !== 1)
    throw new SessiongateError("invalid_request", "logout_token missing");
  return token;
}
