// AppSpec.public_paths: routes served without a session or a JWT (the
// translator's public-paths feature routes them), so they are held to the
// strictest form: one spelling per path, under the app's prefix, never over
// its BFF routes.
import { joinPrefix } from "../../contracts/rules.js";
import { bad, hasControl, list, pathWithin } from "./fields.js";

/** A public path without its "/*": URL path characters but no '%' (one spelling per path) and no '*'. */
const PUBLIC_PATH_RE = /^\/[A-Za-z0-9._~!$&'()+,;=:@/-]{0,255}$/;

/**
 * public_paths: "/x" exact or "/x/*" prefix, under path_prefix and never over
 * the BFF routes (<path_prefix><bffPrefix>, which read the session cookie).
 */
export function publicPaths(raw: string[] | undefined, pathPrefix: string, bffPrefix: string): string[] {
  const bff = joinPrefix(pathPrefix, bffPrefix);
  const out = list("public_paths", raw, 0, 64).map((p, i) => {
    const f = `public_paths[${i}]`;
    if (typeof p !== "string" || p.length === 0) bad(f, "required");
    if (p.length > 256) bad(f, "longer than 256 characters");
    if (hasControl(p)) bad(f, "contains control characters");
    if (!p.startsWith("/")) bad(f, "must start with '/'");
    if (p.includes("?") || p.includes("#")) bad(f, "must be a path (no query or fragment)");
    const prefix = p.endsWith("/*");
    const base = prefix ? p.slice(0, -2) || "/" : p;
    if (base.includes("*")) bad(f, "'*' is only allowed as a trailing \"/*\"");
    if (!PUBLIC_PATH_RE.test(base)) bad(f, "must contain only URL path characters (no '%')");
    if (/(^|\/)\.\.?(\/|$)/.test(base) || base.includes("//"))
      bad(f, "must be normalised (no '.', '..' or '//')");
    if (!pathWithin(base, pathPrefix)) bad(f, `must lie under path_prefix ${pathPrefix}`);
    if (pathWithin(base, bff) || (prefix && pathWithin(bff, base)))
      bad(f, `must not overlap the BFF routes ${bff}`);
    return p;
  });
  const seen = new Set<string>();
  for (const [i, p] of out.entries()) {
    if (seen.has(p)) bad(`public_paths[${i}]`, `duplicate ${JSON.stringify(p)}`);
    seen.add(p);
  }
  return out;
}
