// Generated request header sets for the session-to-token filter: Cookie
// headers (with the session cookie among junk, quoted, duplicated, malformed),
// Origin, Sec-Fetch-Site, Authorization, method, path and authority. The same
// generator feeds the Node-host campaign and the real-Envoy sample.
import fc from "fast-check";

export const COOKIE = "__Host-sg-demo";
export const HOST = "app.example.com";
export const ORIGIN = `https://${HOST}`;

/** 40 well-formed session ids: 30 the BFF knows, 5 it fails on (500), 5 unknown (401). */
export const SESSIONS = Array.from({ length: 40 }, (_, i) =>
  `s${i}`.padEnd(43, String.fromCharCode(97 + (i % 26))),
);
export const LIVE = new Set(SESSIONS.slice(0, 30));
export const FAILING = new Set(SESSIONS.slice(30, 35));
export const tokenFor = (sid: string) => `t_${sid}`;

export interface HeaderSet {
  method: string;
  path: string;
  authority: string;
  cookies: string[];
  origin?: string;
  fetchSite?: string;
  authorization?: string;
  /** Abandon the stream while the BFF call is pending (client gone). */
  abandon: boolean;
}

const cookieChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(";", "=", " ", "\t", '"', ",", "a", "Z", "0", "-", "_") },
  { weight: 1, arbitrary: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
const junk = (max = 20) => fc.array(cookieChar, { maxLength: max }).map((a) => a.join(""));

const sessionValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...SESSIONS) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "bad value",
      "x".repeat(257),
      "x".repeat(300),
      "a.b",
      "é",
      "%41",
      "a+b/c=",
    ),
  },
  { weight: 1, arbitrary: junk(40) },
);
const sessionPair = fc
  .tuple(sessionValue, fc.constantFrom("", " ", "\t"), fc.boolean())
  .map(([sid, ws, quote]) => `${ws}${COOKIE}${ws}=${ws}${quote ? `"${sid}"` : sid}${ws}`);
const otherPair = fc
  .tuple(
    fc.constantFrom("a", "b", `${COOKIE}x`, `x${COOKIE}`, "__Host-sg-other", "__host-sg-demo", ""),
    junk(),
  )
  .map(([n, v]) => `${n}=${v}`);
const plainSession = fc.constantFrom(...SESSIONS).map((sid) => `${COOKIE}=${sid}`);
const mixedHeader = fc
  .tuple(
    fc.array(fc.oneof(sessionPair, otherPair, junk()), { maxLength: 6 }),
    fc.constantFrom(";", "; ", " ;", ";;"),
  )
  .map(([parts, sep]) => parts.join(sep));
// Half the headers are a browser's plain session cookie, so the token paths are well exercised.
const cookieHeader = fc.oneof(plainSession, mixedHeader);

const method = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("GET", "POST") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "HEAD",
      "OPTIONS",
      "PUT",
      "PATCH",
      "DELETE",
      "get",
      "post",
      "TRACE",
      "CONNECT",
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom("", "G E T", "GET\u0000", "PROPFIND", "X".repeat(300)) },
);
const path = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("/", "/api/x", "/api/items?page=1", "/auth/demo/login") },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "",
      "*",
      "api",
      "//x",
      "/%2e%2e/",
      "/a?b#c",
      "http://evil/x",
      `/${"p".repeat(5000)}`,
    ),
  },
  { weight: 1, arbitrary: junk(30).map((j) => `/${j}`) },
);
const authority = fc.oneof(
  { weight: 8, arbitrary: fc.constant(HOST) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(HOST.toUpperCase(), "other.example", "", `${HOST}:443`, `${HOST}.evil`),
  },
);
const origin = fc.option(
  fc.oneof(
    fc.constantFrom(
      ORIGIN,
      ORIGIN.toUpperCase(),
      ` ${ORIGIN} `,
      `http://${HOST}`,
      `${ORIGIN}:443`,
      `${ORIGIN}/`,
      "https://evil.example",
      `https://${HOST}.evil.example`,
      "null",
      "",
    ),
    junk(),
  ),
  { nil: undefined, freq: 2 },
);
const fetchSite = fc.option(
  fc.oneof(
    fc.constantFrom(
      "same-origin",
      "same-site",
      "cross-site",
      "none",
      "CROSS-SITE",
      " cross-site ",
      "cross-site, same-origin",
    ),
    junk(),
  ),
  { nil: undefined, freq: 2 },
);
// Mostly absent: a browser's request carries the cookie, not its own credential.
const authorization = fc.oneof(
  { weight: 5, arbitrary: fc.constant(undefined) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constantFrom("Bearer abc", "Basic dXNlcg==", "", " ", "bearer", `Bearer ${tokenFor(SESSIONS[0])}`),
      junk(),
    ),
  },
);

export const headerSet: fc.Arbitrary<HeaderSet> = fc.record({
  method,
  path,
  authority,
  cookies: fc.array(cookieHeader, { maxLength: 3 }),
  origin,
  fetchSite,
  authorization,
  abandon: fc.integer({ min: 0, max: 19 }).map((x) => x === 0),
});

/** As the filter receives them (pseudo-headers first, then the rest in order). */
export function toPairs(h: HeaderSet): [string, string][] {
  const out: [string, string][] = [
    [":method", h.method],
    [":path", h.path],
    [":authority", h.authority],
    [":scheme", "https"],
  ];
  for (const c of h.cookies) out.push(["cookie", c]);
  if (h.origin !== undefined) out.push(["origin", h.origin]);
  if (h.fetchSite !== undefined) out.push(["sec-fetch-site", h.fetchSite]);
  if (h.authorization !== undefined) out.push(["authorization", h.authorization]);
  return out;
}
