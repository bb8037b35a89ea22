// GET login and GET callback: parse, call bff/oidc/login.ts, render. The login
// cookie is SameSite=Lax: it must come back on the OP's cross-site redirect to
// the callback.
import type { IncomingMessage, ServerResponse } from "node:http";
import { groupBase, loginCookieName } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import { completeLogin, type LoginDone, startLogin } from "../oidc/login.js";
import type { Ctx } from "./context.js";
import { sendError, statusOf } from "./errors.js";
import { clearCookie, parseCookies, redirect, serializeCookie, sessionCookie } from "./util.js";

export async function login(
  ctx: Ctx,
  app: AppConfig,
  _req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  // An app of a group logs in through the group's route, where the group's
  // login state and sign-in cookies are (bff/http/group.ts).
  if (app.group) {
    const to = new URLSearchParams({ app: app.id });
    const rt = url.searchParams.get("return_to");
    if (rt !== null) to.set("return_to", rt);
    redirect(res, `${groupBase(ctx.config.prefix, app.group)}/login?${to}`);
    return;
  }
  const start = await startLogin(ctx.oidc, app, url.searchParams.get("return_to"));
  const cookie = serializeCookie(loginCookieName(app.cookie), start.loginState, {
    sameSite: "Lax",
    maxAgeS: start.maxAgeS,
  });
  redirect(res, start.authorizationUrl, [cookie]);
}

/**
 * A refused callback also drops the (now useless) login cookie, unless the state
 * simply did not match: then it may belong to a login still in progress.
 */
function dropsLoginCookie(err: unknown): boolean {
  return err instanceof SessiongateError && err.code !== "state_mismatch" && statusOf(err.code) < 500;
}

export async function callback(
  ctx: Ctx,
  app: AppConfig,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const loginCookie = loginCookieName(app.cookie);
  let done: LoginDone;
  try {
    done = await completeLogin(ctx.oidc, app, {
      query: url.search,
      loginState: parseCookies(req.headers.cookie).get(loginCookie),
      previousSessionId: sessionCookie(req, app),
    });
  } catch (err) {
    if (!dropsLoginCookie(err)) throw err;
    sendError(ctx, res, err, "callback", { "set-cookie": clearCookie(loginCookie, "Lax") });
    return;
  }
  signedIn(res, done.returnTo, [
    serializeCookie(app.cookie, done.sessionId, { sameSite: "Strict" }),
    clearCookie(loginCookie, "Lax"),
  ]);
}

/**
 * A 200 page that moves on by itself (not a 302): the browser then treats the
 * next navigation as same-site, so the SameSite=Strict session cookie is sent
 * with it.
 */
export function signedIn(res: ServerResponse, target: string, cookies: string[]): void {
  const esc = target.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
  const html = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${esc}"><title>Signed in</title><a href="${esc}">Continue</a>`;
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    refresh: `0;url=${target}`,
    "content-security-policy": "default-src 'none'",
    "set-cookie": cookies,
  });
  res.end(html);
}
