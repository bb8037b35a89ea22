// Field validators the app-spec rules (validate.ts) are written with: each
// takes the field's path (proto, snake_case) and throws INVALID_ARGUMENT
// naming it, so every refusal says which field and why.
import { type HostPort, RegistryError } from "./types.js";

const LABEL_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Control characters (C0 and DEL) are never valid in names, URLs or secrets. */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function bad(field: string, why: string): never {
  throw new RegistryError("INVALID_ARGUMENT", `${field}: ${why}`, field);
}

export function isHostname(h: string): boolean {
  if (h.length === 0 || h.length > 253) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(h)) return h.split(".").every((o) => Number(o) <= 255);
  if (h.startsWith("[") && h.endsWith("]")) return /^[0-9a-fA-F:.]+$/.test(h.slice(1, -1));
  return h.split(".").every((l) => LABEL_RE.test(l));
}

export function port(field: string, p: string | number): number {
  const n = typeof p === "number" ? p : /^\d{1,5}$/.test(p) ? Number(p) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    bad(field, `port must be 1..65535, got ${JSON.stringify(p)}`);
  return n;
}

/** Parses "host:port" (IPv6 in brackets). */
export function parseHostPort(field: string, v: string): HostPort {
  if (typeof v !== "string" || v.length > 300) bad(field, "expected host:port");
  const i = v.lastIndexOf(":");
  if (i <= 0) bad(field, `expected host:port, got ${JSON.stringify(v)}`);
  const host = v.slice(0, i);
  if (!isHostname(host)) bad(field, `invalid host ${JSON.stringify(host)}`);
  return { host: host.startsWith("[") ? host.slice(1, -1) : host, port: port(field, v.slice(i + 1)) };
}

export function url(field: string, v: string | undefined, required: boolean): string {
  if (!v) {
    if (required) bad(field, "required");
    return "";
  }
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    bad(field, `not a URL: ${JSON.stringify(v.slice(0, 100))}`);
  }
  if (u.username || u.password) bad(field, "must not contain credentials");
  if (u.hash) bad(field, "must not contain a fragment");
  // *.localhost is loopback too (RFC 6761): local multi-app setups (the demo) give each app such a host.
  const loopback =
    ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname) || u.hostname.endsWith(".localhost");
  if (u.protocol !== "https:" && !(u.protocol === "http:" && loopback)) {
    bad(field, "must be https (http only for loopback hosts)");
  }
  return v;
}

export function str(field: string, v: string | undefined, max = 256): string {
  if (!v) bad(field, "required");
  if (v.length > max) bad(field, `longer than ${max} characters`);
  if (hasControl(v)) bad(field, "contains control characters");
  return v;
}

export function list<T>(field: string, v: T[] | undefined, min: number, max: number): T[] {
  const a = v ?? [];
  if (a.length < min)
    bad(field, min === 1 ? "at least one entry required" : `at least ${min} entries required`);
  if (a.length > max) bad(field, `at most ${max} entries`);
  return a;
}

export function noDuplicates(field: string, a: string[]): void {
  const seen = new Set<string>();
  for (const [i, x] of a.entries()) {
    if (seen.has(x.toLowerCase())) bad(`${field}[${i}]`, `duplicate ${JSON.stringify(x)}`);
    seen.add(x.toLowerCase());
  }
}

/** `path` is `base` or below it ("/" contains everything). */
export function pathWithin(path: string, base: string): boolean {
  return path === base || path.startsWith(base === "/" ? "/" : `${base}/`);
}
