// Node http servers for both listeners: URL parsing, latency metric, error mapping.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Ctx } from "./context.js";
import { sendError } from "./errors.js";
import { handleInternal } from "./internal.js";
import { handlePublic } from "./public.js";
import { HttpError } from "./util.js";

type Handler = (ctx: Ctx, req: IncomingMessage, res: ServerResponse, url: URL) => Promise<string>;

function serve(ctx: Ctx, listener: "public" | "internal", handler: Handler): Server {
  const server = createServer(async (req, res) => {
    const end = ctx.metrics.httpDuration.startTimer({ listener });
    let route = "unknown";
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://bff.invalid");
      } catch {
        throw new HttpError(400, "invalid_request", "unparsable request target");
      }
      route = await handler(ctx, req, res, url);
      end({ route, status: res.statusCode });
    } catch (err) {
      const status = sendError(ctx, res, err, route);
      end({ route, status });
    }
  });
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
export const createInternalServer = (ctx: Ctx) => serve(ctx, "internal", handleInternal);
