// Small HTTP helpers: JSON answers, cookies, bounded bodies, the error type routes throw.
import type { IncomingMessage, ServerResponse } from "node:http";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail?: string,
    /** Extra response headers (e.g. a Set-Cookie that clears a stale cookie). */
    readonly headers: Record<string, string | string[]> = {},
  ) {
    super(detail ? `${code}: ${detail}` : code);
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-length": Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

export function redirect(res: ServerResponse, location: string, cookies: string[] = [], status = 302): void {
  res.writeHead(status, {
    location,
    "cache-control": "no-store",
    ...(cookies.length ? { "set-cookie": cookies } : {}),
  });
  res.end();
}

/** Parses a Cookie header; first occurrence of a name wins; never throws. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header || header.length > 16384) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

export interface CookieOpts {
  maxAgeS?: number;
  sameSite: "Strict" | "Lax";
}

/** `__Host-` cookies: Secure, Path=/, no Domain (the browser enforces all three). */
export function serializeCookie(name: string, value: string, o: CookieOpts): string {
  let c = `${name}=${value}; Path=/; HttpOnly; Secure; SameSite=${o.sameSite}`;
  if (o.maxAgeS !== undefined) c += `; Max-Age=${o.maxAgeS}`;
  return c;
}

export function clearCookie(name: string, sameSite: "Strict" | "Lax" = "Strict"): string {
  return serializeCookie(name, "", { maxAgeS: 0, sameSite });
}

/** Largest request body any route accepts (a back-channel logout token is a few KB). */
export const MAX_BODY_BYTES = 65536;
/**
 * An over-long body is read and thrown away up to this much before the 413, so
 * the connection ends clean and stays usable: answering early and closing
 * with bytes still unread makes the kernel reset the connection, which can
 * lose the answer itself. Beyond it (and beyond server.requestTimeout) the
 * server answers and closes.
 */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

const bodies = new WeakMap<IncomingMessage, string>();

/**
 * Reads the whole request body before any handler runs (bff/http/server.ts
 * does, for every route of both listeners), so that no answer ever leaves a
 * body unread on a kept-alive connection: the next request Envoy sends on it
 * would be parsed as the rest of this body and hang. Over MAX_BODY_BYTES: the
 * rest is read and discarded up to DRAIN_LIMIT_BYTES, then 413.
 */
export function consumeBody(req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("aborted", onAborted);
      if (err) return reject(err);
      if (size > MAX_BODY_BYTES)
        return reject(new HttpError(413, "body_too_large", `at most ${MAX_BODY_BYTES} bytes`));
      bodies.set(req, Buffer.concat(chunks).toString("utf8"));
      resolve();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      // Not destroyed (that would drop the socket before the 413): paused, and the
      // server closes the connection once the answer is out.
      else if (size > DRAIN_LIMIT_BYTES) {
        req.pause();
        done();
      }
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    const onAborted = () => done(new HttpError(400, "invalid_request", "request aborted"));
    req.on("data", onData).on("end", onEnd).on("error", onError).on("aborted", onAborted);
  });
}

/** The request's body as read by consumeBody ("" when there was none). */
export function readBody(req: IncomingMessage): string {
  return bodies.get(req) ?? "";
}

/** Single-valued header, or undefined; a repeated header counts as malformed. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw new HttpError(400, "invalid_request", `header ${name} repeated`);
  return v;
}
