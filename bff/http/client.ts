// GET <prefix>/<app>/client.js: the browser client (bff/client/sessiongate.js)
// with this app's id, mode and prefix filled in, so an SPA imports it with no
// configuration. Revalidated on every use (no-cache + ETag): a BFF upgrade or
// a mode change reaches the next page load.
import type { IncomingMessage, ServerResponse } from "node:http";
import { groupBase } from "../../contracts/rules.js";
import { clientBundle } from "../client/bundle.js";
import type { AppConfig } from "../config/schema.js";
import type { Ctx } from "./context.js";

/** RFC 9110 §13.1.2: weak comparison, a list of tags or "*". */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag.replace(/^W\//, "") === etag;
  });
}

export function clientScript(ctx: Ctx, app: AppConfig, req: IncomingMessage, res: ServerResponse): void {
  // The prefix as the browser sees it: an app registered under a path prefix
  // has its BFF routes below it (bff/http/app-path.ts).
  const prefix = `${app.routeBase}${ctx.config.prefix}`;
  // A group's routes are at the origin's root (bff/http/group.ts).
  const group = app.group ? groupBase(ctx.config.prefix, app.group) : undefined;
  const { body, etag } = clientBundle({ app: app.id, mode: app.mode, prefix, group });
  const headers = {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "no-cache",
    etag,
    "x-content-type-options": "nosniff",
  };
  const inm = req.headers["if-none-match"];
  if (matches(Array.isArray(inm) ? inm.join(",") : inm, etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "content-length": body.length });
  res.end(req.method === "HEAD" ? undefined : body);
}
