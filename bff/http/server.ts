// Node http servers for both listeners: URL parsing, latency metric, error mapping.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from "node:https";
import { INTERNAL_TOKEN_PATH } from "../../contracts/rules.js";
import { parseTraceparent } from "../../contracts/trace.js";
import { SessiongateError } from "../errors.js";
import { resolveAppPath } from "./app-path.js";
import type { Ctx } from "./context.js";
import { sendError } from "./errors.js";
import { groupPath } from "./group.js";
import { handleInternal } from "./internal.js";
import { handlePublic, PUBLIC_ACTIONS } from "./public.js";
import { consumeBody } from "./util.js";

type Handler = (ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<string>;

// Metric label known before the handler runs, so failures are attributed too.
const INTERNAL_ROUTES = new Set([INTERNAL_TOKEN_PATH, "/metrics", "/healthz", "/readyz"]);
function label(ctx: Ctx, listener: "public" | "internal", url: URL): string {
  if (listener === "internal")
    return INTERNAL_ROUTES.has(url.pathname) ? url.pathname.split("/").pop() || "unknown" : "unknown";
  if (groupPath(ctx.config.prefix, url.pathname)) return "group";
  const at = resolveAppPath(ctx, url.pathname);
  return at && PUBLIC_ACTIONS.has(at.action) ? at.action : "unknown";
}

function serve(ctx: Ctx, listener: "public" | "internal", handler: Handler, tls?: HttpsOptions): Server {
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const end = ctx.metrics.httpDuration.startTimer({ listener });
    // Every line logged for this request carries the caller's W3C trace ids.
    const trace = parseTraceparent(req.headers.traceparent);
    const rctx = trace ? { ...ctx, log: ctx.log.child(trace) } : ctx;
    let route = "unknown";
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://bff.invalid");
      } catch {
        throw new SessiongateError("invalid_request", "unparsable request target");
      }
      route = label(ctx, listener, url);
      await consumeBody(req);
      await handler(rctx, req, res, url);
      end({ route, status: res.statusCode });
      rctx.log.debug({ listener, method: req.method, route, status: res.statusCode }, "request");
    } catch (err) {
      // A body left unread (too large even to drain) must not stay on a kept-alive
      // connection: Envoy would send the next user's request after it.
      if (!req.complete && !res.headersSent) res.setHeader("connection", "close");
      const status = sendError(rctx, res, err, route);
      if (!req.complete) res.once("finish", () => req.socket.destroy());
      end({ route, status });
      rctx.log.debug({ listener, method: req.method, route, status }, "request");
    }
  };
  const server: Server = tls ? createHttpsServer(tls, onRequest) : createServer(onRequest);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
  // Malformed HTTP never reaches a handler: answer 400 and drop the socket.
  server.on("clientError", (_err, socket) => {
    if (socket.writable)
      socket.end(
        'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":"invalid_request"}',
      );
    else socket.destroy();
  });
  return server;
}

export const createPublicServer = (ctx: Ctx) => serve(ctx, "public", handlePublic);
/** With `tls`: HTTPS, asking every client for a certificate (the token endpoint requires one). */
export const createInternalServer = (ctx: Ctx, tls?: HttpsOptions) =>
  serve(
    ctx,
    "internal",
    handleInternal,
    tls && { ...tls, requestCert: true, rejectUnauthorized: false, minVersion: "TLSv1.2" },
  );
