import { createServer, type IncomingHttpHeaders } from "node:http";
import { onCleanup } from "./cleanup.js";

export interface EchoRecord {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface EchoHandle {
  url: string;
  port: number;
  /** Every request received, oldest first. */
  requests: EchoRecord[];
  stop(): Promise<void>;
}

/** An upstream that answers 200 with JSON describing the request it received. */
export async function startEcho(opts: { port?: number; name?: string } = {}): Promise<EchoHandle> {
  const requests: EchoRecord[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rec: EchoRecord = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      requests.push(rec);
      const body = JSON.stringify({ upstream: opts.name ?? "echo", ...rec });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  const unregister = onCleanup(stop);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
