// Node http servers for both listeners: URL parsing, latency metric, error mapping.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from "node:https";
import { INTERNAL_TOKEN_PATH } from "../../contracts/rules.js";
import { parseTraceparent } from "../../contracts/trace.js";
import { SessiongateError } from "../errors.js";
import { withTrace } from "../trace.js";
import { handleAdmin } from "./admin.js";
import { resolveAppPath } from "./app-path.js";
import type { Ctx } from "./context.js";
import { sendError } from "./errors.js";
import { groupPath } from "./group.js";
import { handleInternal } from "./internal.js";
import { handlePublic, PUBLIC_ACTIONS } from "./public.js";
import { consumeBody } from "./util.js";

type Handler = (ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<string>;

// Metric label known before the handler runs, so failures are attributed too.
const ROUTES = {
  internal: new Set([INTERNAL_TOKEN_PATH, "/healthz", "/readyz"]),
  admin: new Set(["/metrics", "/healthz", "/readyz"]),
};
type Listener = "public" | "internal" | "admin";
function label(ctx: Ctx, listener: Listener, url: URL): string {
  if (listener !== "public")
    return ROUTES[listener].has(url.pathname) ? url.pathname.split("/").pop() || "unknown" : "unknown";
  if (groupPath(ctx.config.prefix, url.pathname)) return "group";
  const at = resolveAppPath(ctx, url.pathname);
  return at && PUBLIC_ACTIONS.has(at.action) ? at.action : "unknown";
}

// The filter's token call is the BFF's hot path (every filter cache miss): its
// target is parsed once, and a request that declares no body (HTTP/1.1: neither
// content-length nor transfer-encoding, as the filter sends it) has none to wait for.
const TOKEN_URL = new URL(INTERNAL_TOKEN_PATH, "http://bff.invalid");
const tokenCall = (req: IncomingMessage) =>
  req.url === INTERNAL_TOKEN_PATH &&
  req.headers["content-length"] === undefined &&
  req.headers["transfer-encoding"] === undefined;

/** The latency histogram's children, bound once per label set (cheaper than labels per request). */
function durations(ctx: Ctx, listener: Listener) {
  const bound = new Map<string, { observe(v: number): void }>();
  return (startedMs: number, route: string, status: number) => {
    const k = `${route} ${status}`;
    let child = bound.get(k);
    if (!child) {
      child = ctx.metrics.httpDuration.labels({ listener, route, status });
      // Bounded: routes are a fixed set and statuses few; an odd one is observed unbound.
      if (bound.size < 256) bound.set(k, child);
    }
    child.observe((performance.now() - startedMs) / 1000);
  };
}

function serve(ctx: Ctx, listener: Listener, handler: Handler, tls?: HttpsOptions): Server {
  const observe = durations(ctx, listener);
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const end = (labels: { route: string; status: number }) => observe(started, labels.route, labels.status);
    // Every line logged for this request carries the caller's W3C trace ids.
    const trace = parseTraceparent(req.headers.traceparent);
    const rctx = trace ? { ...ctx, log: ctx.log.child(trace) } : ctx;
    let route = "unknown";
    try {
      const fast = listener === "internal" && tokenCall(req);
      let url: URL;
      try {
        url = fast ? TOKEN_URL : new URL(req.url ?? "/", "http://bff.invalid");
      } catch {
        throw new SessiongateError("invalid_request", "unparsable request target");
      }
      route = label(ctx, listener, url);
      if (!fast) await consumeBody(req);
      // Calls to the OP on this request's behalf carry a child traceparent.
      await withTrace(req.headers.traceparent, () => handler(rctx, req, res, url));
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
/** /metrics, /healthz, /readyz (admin.listen). */
export const createAdminServer = (ctx: Ctx) => serve(ctx, "admin", handleAdmin);
