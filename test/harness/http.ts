import { type IncomingHttpHeaders, request } from "node:http";

export interface HostReply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

export interface HostRequestOptions {
  method?: string;
  body?: string;
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
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path,
        headers,
        agent: false,
        timeout: opts.timeoutMs ?? 5000,
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5000} ms: ${path}`)));
    req.end(opts.body);
  });
}
