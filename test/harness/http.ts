import { type IncomingHttpHeaders, request } from "node:http";
import { budget } from "./slowness.js";

export interface HostReply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

export interface HostRequestOptions {
  method?: string;
  body?: string;
  /** Socket idle timeout; default 5 s on an idle machine, scaled by its slowness (a stuck request fails, a slow machine does not). */
  timeoutMs?: number;
}

/**
 * One HTTP/1.1 request to 127.0.0.1:`port` with any headers, Host included
 * (fetch cannot set Host, which is how Envoy picks the virtual host).
 */
export function hostRequest(
  port: number,
  path: string,
  headers: Record<string, string>,
  opts: HostRequestOptions = {},
): Promise<HostReply> {
  const timeoutMs = opts.timeoutMs ?? budget(5000);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path,
        headers,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${path}`)));
    req.end(opts.body);
  });
}
