// `return_to` validation: only the app's own origin(s), no open redirects.
// Accepts a path ("/x?y") or an absolute URL whose origin is allowed; refuses
// protocol-relative ("//evil"), backslash tricks ("/\evil"), control characters,
// userinfo and anything that resolves to another origin.
export function validateReturnTo(raw: string | null, publicOrigin: string, allowed: string[]): string | null {
  if (raw === null || raw === "") return `${publicOrigin}/`;
  if (raw.length > 2048) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (/[\x00-\x20\x7f\\]/.test(raw)) return null;
  let u: URL;
  if (raw.startsWith("/")) {
    if (raw.startsWith("//")) return null;
    u = new URL(raw, publicOrigin);
  } else {
    try {
      u = new URL(raw);
    } catch {
      return null;
    }
    if (u.protocol !== "https:" && u.protocol !== "http:") return null;
    if (u.username || u.password) return null;
  }
  if (!allowed.includes(u.origin)) return null;
  return u.href;
}
