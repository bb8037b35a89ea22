// Property tests (fast-check) through the Node host: >= 100k generated inputs
// per class. Invariants: no trap; never a token for a session other than the
// one the request's cookie names (cache of 8 slots for 40 sessions, so slot
// collisions happen all the time); the session cookie, and every other cookie
// in sessiongate's namespace, never goes upstream;
// cross-site unsafe requests never get a token; own authorization untouched.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { budget } from "../harness/slowness.js";
import type { Host, Outcome } from "../wasm-host/index.js";
import { HOST, host, req } from "./helpers.js";

const RUNS = Number(process.env.S2T_PROPERTY_RUNS ?? 100_000);
const C = "__Host-sg-demo";
const SESSIONS = Array.from({ length: 40 }, (_, i) => `s${i}`.padEnd(43, String.fromCharCode(97 + (i % 26))));
const LIVE = new Set(SESSIONS.slice(0, 30)); // the last 10 are unknown to the BFF
const tokenFor = (sid: string) => `t_${sid}`;

/** Runs one request to completion, answering BFF calls like a BFF that knows LIVE. */
function run(h: Host, headers: [string, string][]): Outcome {
  let o = h.request(headers);
  if (o.state === "paused") {
    const call = o.call!;
    const sid = Object.fromEntries(call.headers)["x-sessiongate-session"];
    o = LIVE.has(sid)
      ? h.answerHttpCall(call.token, {
          status: 200,
          body: JSON.stringify({ access_token: tokenFor(sid), token_type: "Bearer", expires_in: 120 }),
        })
      : h.answerHttpCall(call.token, { status: 401, body: '{"error":"no_session"}' });
  }
  return o;
}

/** Independent model of "which session does this request name" (RFC 6265 pairs, first wins). */
function modelSession(cookieHeaders: string[]): string | undefined {
  for (const hv of cookieHeaders) {
    for (const raw of hv.split(";")) {
      const piece = raw.replace(/^[ \t]+|[ \t]+$/g, "");
      const eq = piece.indexOf("=");
      if (eq < 0 || piece.slice(0, eq).replace(/^[ \t]+|[ \t]+$/g, "") !== C) continue;
      let v = piece.slice(eq + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
      return v;
    }
  }
  return undefined;
}

const trimOws = (x: string) => x.replace(/^[ \t]+|[ \t]+$/g, "");
const inNamespace = (name: string) => name.toLowerCase().startsWith("__host-sg-");

/** Independent model of what the filter forwards when no session cookie is there: every pair outside the namespace. */
function modelForwarded(cookieHeaders: string[]): string[] {
  const kept: string[] = [];
  let dropped = false;
  for (const hv of cookieHeaders)
    for (const raw of hv.split(";")) {
      const piece = trimOws(raw);
      if (!piece) continue;
      const eq = piece.indexOf("=");
      if (eq >= 0 && inNamespace(trimOws(piece.slice(0, eq)))) dropped = true;
      else kept.push(piece);
    }
  if (!dropped) return cookieHeaders; // untouched
  return kept.length ? [kept.join("; ")] : [];
}

/** Whether any pair of sessiongate's namespace (any app's session or login cookie) is forwarded. */
function namespaceCookieForwarded(o: Outcome): boolean {
  return o.all("cookie").some((hv) =>
    hv.split(";").some((p) => {
      const eq = p.indexOf("=");
      return eq >= 0 && inNamespace(trimOws(p.slice(0, eq)));
    }),
  );
}

function sessionCookieForwarded(o: Outcome): boolean {
  return o.all("cookie").some((hv) =>
    hv.split(";").some((p) => {
      const eq = p.indexOf("=");
      return eq >= 0 && p.slice(0, eq).trim() === C;
    }),
  );
}

// Latin-1 text with the characters that matter to cookie parsing over-represented.
const cookieChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(";", "=", " ", "\t", '"', ",", "a", "Z", "0", "-", "_") },
  { weight: 1, arbitrary: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)) },
);
const junk = fc.array(cookieChar, { maxLength: 20 }).map((a) => a.join(""));
const sessionPair = fc
  .tuple(
    fc.constantFrom(...SESSIONS, "", "bad value", "x".repeat(300)),
    fc.constantFrom("", " ", "\t"),
    fc.boolean(),
  )
  .map(([sid, ws, quote]) => `${ws}${C}${ws}=${ws}${quote ? `"${sid}"` : sid}${ws}`);
const otherPair = fc
  .tuple(
    fc.constantFrom("a", "b", `${C}x`, `x${C}`, "__Host-sg-other", "__HOST-sg-x", `${C}-login`, ""),
    junk,
  )
  .map(([n, v]) => `${n}=${v}`);
const cookieHeader = fc
  .tuple(fc.array(fc.oneof(sessionPair, otherPair, junk), { maxLength: 5 }), fc.constantFrom(";", "; ", " ;"))
  .map(([parts, sep]) => parts.join(sep));
const cookieHeaders = fc.array(cookieHeader, { maxLength: 3 });

describe("property: cookie headers", () => {
  let h: Host;
  beforeAll(async () => {
    h = await host(
      JSON.stringify({
        bff_cluster: "bff",
        cache: { slots: 8 },
        apps: [{ id: "demo", hosts: [HOST], cookie: C, allowed_origins: [`https://${HOST}`] }],
      }),
    );
  });

  it(`${RUNS} generated Cookie header sets: no trap, right session's token or none, cookie stripped`, {
    timeout: budget(180_000),
  }, () => {
    fc.assert(
      fc.property(
        cookieHeaders,
        fc.array(fc.tuple(fc.constantFrom("x-a", "accept", "origin"), junk), { maxLength: 2 }),
        (cookies, extra) => {
          const o = run(h, req([...cookies.map((c) => ["cookie", c] as [string, string]), ...extra]));
          const sid = modelSession(cookies);
          const auth = o.header("authorization");
          expect(sessionCookieForwarded(o)).toBe(false);
          expect(namespaceCookieForwarded(o)).toBe(false);
          if (sid === undefined) {
            expect(o.state).toBe("continue");
            expect(auth).toBeUndefined();
            // untouched unless a sessiongate cookie was there: then every other pair, in order
            expect(o.all("cookie")).toEqual(modelForwarded(cookies));
          } else if (o.state === "continue") {
            expect(auth).toBe(`Bearer ${tokenFor(sid)}`);
            expect(LIVE.has(sid)).toBe(true);
          } else {
            expect(auth).toBeUndefined();
            expect(o.local?.status).toBe(401);
            expect(LIVE.has(sid)).toBe(false);
          }
        },
      ),
      { numRuns: RUNS },
    );
    expect(h.metrics.get("session_to_token.hits")).toBeGreaterThan(0);
    expect(h.memoryBytes()).toBeLessThan(32 * 1024 * 1024);
  });
});

describe("property: Origin / Sec-Fetch-Site", () => {
  let h: Host;
  beforeAll(async () => {
    h = await host(
      JSON.stringify({
        bff_cluster: "bff",
        cache: { slots: 8 },
        apps: [{ id: "demo", hosts: [HOST], cookie: C, allowed_origins: [`https://${HOST}`] }],
      }),
    );
  });
  const method = fc.constantFrom("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "get", "TRACE");
  const origin = fc.option(
    fc.oneof(
      fc.constantFrom(
        `https://${HOST}`,
        `HTTPS://${HOST.toUpperCase()}`,
        `http://${HOST}`,
        "https://evil.example",
        "null",
        "",
      ),
      junk,
    ),
    { nil: undefined },
  );
  const site = fc.option(
    fc.oneof(
      fc.constantFrom("same-origin", "same-site", "cross-site", "none", "CROSS-SITE", " cross-site "),
      junk,
    ),
    { nil: undefined },
  );

  it(`${RUNS} generated method/Origin/Sec-Fetch-Site combinations: unsafe cross-site never gets a token`, {
    timeout: budget(180_000),
  }, () => {
    fc.assert(
      fc.property(method, origin, site, fc.constantFrom(...SESSIONS.slice(0, 30)), (m, org, fs, sid) => {
        const extra: [string, string][] = [["cookie", `${C}=${sid}`]];
        if (org !== undefined) extra.push(["origin", org]);
        if (fs !== undefined) extra.push(["sec-fetch-site", fs]);
        const o = run(h, req(extra, m));
        const unsafe = !["GET", "HEAD", "OPTIONS"].includes(m);
        const fsv = fs?.trim().toLowerCase();
        const crossSite =
          unsafe &&
          (fsv === "cross-site" ||
            (fsv === "same-site" && org === undefined) ||
            (org !== undefined && org.trim().toLowerCase() !== `https://${HOST}`));
        if (crossSite) {
          expect(o.local?.status).toBe(403);
          expect(o.header("authorization")).toBeUndefined();
        } else {
          expect(o.state).toBe("continue");
          expect(o.header("authorization")).toBe(`Bearer ${tokenFor(sid)}`);
        }
        expect(sessionCookieForwarded(o)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("property: authorization", () => {
  let h: Host;
  beforeAll(async () => {
    h = await host(
      JSON.stringify({
        bff_cluster: "bff",
        cache: { slots: 8 },
        apps: [{ id: "demo", hosts: ["*"], cookie: C }],
      }),
    );
  });
  const authz = fc.option(
    fc.oneof(fc.constantFrom("Bearer abc", "Basic dXNlcg==", "", " ", "bearer"), junk),
    { nil: undefined },
  );

  it(`${RUNS} generated authorization headers: an own credential is never replaced`, {
    timeout: budget(180_000),
  }, () => {
    fc.assert(
      fc.property(authz, fc.constantFrom(...SESSIONS.slice(0, 30)), fc.boolean(), (a, sid, withCookie) => {
        const extra: [string, string][] = withCookie ? [["cookie", `${C}=${sid}`]] : [];
        if (a !== undefined) extra.push(["authorization", a]);
        const before = h.pendingCalls.size;
        const o = run(h, req(extra));
        expect(o.state).toBe("continue");
        expect(h.pendingCalls.size).toBe(before);
        if (a !== undefined && a.trim() !== "") expect(o.all("authorization")).toEqual([a]);
        else if (withCookie) expect(o.all("authorization")).toEqual([`Bearer ${tokenFor(sid)}`]);
        else expect(o.all("authorization")).toEqual(a === undefined ? [] : [a]);
        expect(sessionCookieForwarded(o)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});
