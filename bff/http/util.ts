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

export async function readBody(req: IncomingMessage, limit = 65536): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, "body_too_large");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Single-valued header, or undefined; a repeated header counts as malformed. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (Array.isArray(v)) throw new HttpError(400, "invalid_request", `header ${name} repeated`);
  return v;
}
