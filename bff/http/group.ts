// An app group's routes, `<prefix>/_group/<group>/<action>` at the origin's
// root: the group's one redirect URI per origin (callback), the login every
// member's own login leads to, the silent sign-in advice for the browser
// client (session), the group's logout callback and back-channel logout.
// Envoy routes them to the BFF forwarding only the group's sign-in and login
// cookies (xds-server/translate/bff.ts); parse, call bff/oidc/group*.ts, render.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  GROUP_PATH_SEGMENT,
  groupCookieName,
  isGroupName,
  isSessionId,
  loginCookieName,
} from "../../contracts/rules.js";
import { SessiongateError } from "../errors.js";
import {
  completeGroupLogin,
  type GroupCallbackDone,
  groupMember,
  groupMembers,
  silentSignInAdvised,
  startGroupLogin,
} from "../oidc/group.js";
import { groupBackchannelLogout } from "../oidc/group-logout.js";
import type { Ctx } from "./context.js";
import { sendError, statusOf } from "./errors.js";
import { signedIn } from "./login.js";
import { readLogoutToken } from "./logout.js";
import { clearCookie, parseCookies, redirect, sendJson, serializeCookie } from "./util.js";

const ACTIONS: Record<string, string> = {
  login: "GET",
  callback: "GET",
  session: "GET",
  "logout/callback": "GET",
  "backchannel-logout": "POST",
};

/** The group and action of a group route, or null when `pathname` is not one. */
export function groupPath(prefix: string, pathname: string): { group: string; action: string } | null {
  const marker = `${prefix}/${GROUP_PATH_SEGMENT}/`;
  if (!pathname.startsWith(marker)) return null;
  const rest = pathname.slice(marker.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return { group: rest, action: "" };
  return { group: rest.slice(0, slash), action: rest.slice(slash + 1) };
}

/** Runs a group route; returns its metric label. */
export async function handleGroup(
  ctx: Ctx,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  at: { group: string; action: string },
): Promise<string> {
  const { group, action } = at;
  const members = isGroupName(group) ? groupMembers(ctx.apps.values(), group) : [];
  if (members.length === 0) throw new SessiongateError("unknown_group", "no such app group");
  const method = ACTIONS[action];
  if (!method) throw new SessiongateError("not_found");
  if (req.method !== method) throw new SessiongateError("method_not_allowed");
  const signInCookie = groupCookieName(group);
  const loginCookie = loginCookieName(signInCookie);
  const cookies = parseCookies(req.headers.cookie);
  const signInValue = cookies.get(signInCookie);
  const signInId = signInValue && isSessionId(signInValue) ? signInValue : null;
  const q = url.searchParams;
  switch (action) {
    case "login": {
      const app = groupMember(members, group, q.get("app"));
      const prompt = q.get("prompt");
      if (prompt !== null && prompt !== "none")
        throw new SessiongateError("invalid_request", 'prompt: only "none" (a silent sign-in)');
      const start = await startGroupLogin(ctx.oidc, app, {
        returnTo: q.get("return_to"),
        silent: prompt === "none",
        loginState: cookies.get(loginCookie),
      });
      const c = serializeCookie(loginCookie, start.loginState, { sameSite: "Lax", maxAgeS: start.maxAgeS });
      redirect(res, start.authorizationUrl, [c]);
      break;
    }
    case "callback": {
      let done: GroupCallbackDone;
      try {
        done = await completeGroupLogin(ctx.oidc, members, group, {
          query: url.search,
          loginState: cookies.get(loginCookie),
          signInId,
        });
      } catch (err) {
        // A state that matches none may belong to another login still in progress.
        const keep =
          !(err instanceof SessiongateError) || err.code === "state_mismatch" || statusOf(err.code) >= 500;
        if (keep) throw err;
        sendError(ctx, res, err, "group/callback", { "set-cookie": clearCookie(loginCookie, "Lax") });
        return "group/callback";
      }
      const set = [
        done.loginState === null
          ? clearCookie(loginCookie, "Lax")
          : serializeCookie(loginCookie, done.loginState, {
              sameSite: "Lax",
              maxAgeS: ctx.oidc.loginTimeoutS,
            }),
      ];
      if (done.kind === "signed_in") {
        set.push(serializeCookie(done.app.cookie, done.sessionId, { sameSite: "Strict" }));
        // Lax: it must come back on the provider's redirect to this callback.
        if (done.newSignInId) set.push(serializeCookie(signInCookie, done.newSignInId, { sameSite: "Lax" }));
      }
      signedIn(res, done.returnTo, set);
      break;
    }
    case "session": {
      // Advice for the browser client, never a token: should it try a silent sign-in?
      const app = groupMember(members, group, q.get("app"));
      const silent = await silentSignInAdvised(ctx.oidc, app, signInId);
      sendJson(res, 200, { group, app: app.id, silent_sign_in: silent });
      break;
    }
    case "logout/callback": {
      // `state` names the app whose logout this was (bff/oidc/logout.ts); back to its home.
      const app = groupMember(members, group, q.get("state"));
      redirect(res, `${app.publicOrigin}${app.routeBase}/`);
      break;
    }
    case "backchannel-logout": {
      await groupBackchannelLogout(ctx.oidc, members, group, readLogoutToken(req));
      res.writeHead(200, { "cache-control": "no-store" });
      res.end();
      break;
    }
  }
  return `group/${action}`;
}
