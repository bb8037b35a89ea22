// A raw HTTP/1.1 exchange over a socket: header bytes exactly as generated
// (Latin-1, odd methods and paths), which fetch and node:http refuse to send.
// One request per connection (connection: close), so the answer is the socket's bytes.
import { connect } from "node:net";

export interface RawReply {
  /** 0 when the peer closed without an HTTP answer. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: [string, string][],
  opts: { body?: string; timeoutMs?: number } = {},
): Promise<RawReply> {
  const lines = [`${method} ${path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`), "connection: close"];
  if (opts.body !== undefined) lines.push(`content-length: ${Buffer.byteLength(opts.body)}`);
  const wire = Buffer.concat([
    Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"),
    Buffer.from(opts.body ?? ""),
  ]);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    // write, not end: Envoy resets an HTTP/1 stream whose client half-closes first.
    const s = connect(port, "127.0.0.1", () => s.write(wire));
    const done = () => {
      clearTimeout(t);
      resolve(parse(Buffer.concat(chunks).toString("latin1")));
    };
    const t = setTimeout(() => s.destroy(), opts.timeoutMs ?? 10_000);
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      // Done at the end of the response: Envoy would otherwise hold the socket
      // for its delayed-close timeout (1 s) waiting for us to close first.
      if (complete(Buffer.concat(chunks).toString("latin1"))) s.destroy();
    });
    s.on("close", done);
    s.on("error", () => {});
  });
}

function complete(raw: string): boolean {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return false;
  const head = raw.slice(0, end).toLowerCase();
  const body = raw.slice(end + 4);
  const cl = /\r\ncontent-length: *(\d+)/.exec(head);
  if (cl) return Buffer.byteLength(body, "latin1") >= Number(cl[1]);
  if (/\r\ntransfer-encoding: *chunked/.test(head)) return body.endsWith("0\r\n\r\n");
  return false;
}

function parse(raw: string): RawReply {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  if (!m) return { status: 0, headers: {}, body: raw };
  const [head, ...rest] = raw.split("\r\n\r\n");
  const headers: Record<string, string> = {};
  for (const l of head.split("\r\n").slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = rest.join("\r\n\r\n");
  if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
  return { status: Number(m[1]), headers, body };
}

function unchunk(b: string): string {
  let out = "";
  let rest = b;
  for (;;) {
    const i = rest.indexOf("\r\n");
    const n = Number.parseInt(rest.slice(0, i), 16);
    if (!(n > 0)) return out;
    out += rest.slice(i + 2, i + 2 + n);
    rest = rest.slice(i + 2 + n + 2);
  }
}
