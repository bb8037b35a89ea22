// The header-fuzz properties through a real Envoy: a sample of generated
// header sets (fixed seed) sent as raw HTTP/1.1 to Envoy with the wasm filter
// (envoy/wasm-filter.yaml, the token-server fixture as the BFF internal port),
// judged at the echo upstream: no other session's token, the session cookie
// never upstream, no unsafe cross-site request forwarded with the cookie.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "../filter/envoy-fixture.js";
import { budget } from "../harness/slowness.js";
import { COOKIE, HOST, headerSet, LIVE, ORIGIN, tokenFor } from "./headers/gen.js";
import { judge, type Seen } from "./headers/judge.js";
import { rawRequest } from "./raw-http.js";

const N = 300;
const SEED = Number(process.env.BADINPUT_SEED ?? 20261123);

describe("invariants 5, 6, 9 through Envoy", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({
      name: "envoy-badinput",
      config: JSON.stringify({
        bff_cluster: "sessiongate_bff_internal",
        bff_timeout_ms: 2000,
        cache: { slots: 8, skew_s: 5, max_ttl_s: 30 },
        apps: [{ id: "demo", hosts: [HOST], cookie: COOKIE, allowed_origins: [ORIGIN] }],
      }),
    });
    for (const sid of LIVE) s.bff.sessions.set(sid, { accessToken: tokenFor(sid), expiresIn: 120 });
  });

  it(`${N} generated header sets (seed ${SEED}) through Envoy's wasm filter, judged at the upstream, documented decisions`, {
    timeout: budget(180_000),
  }, async () => {
    const sets = fc.sample(headerSet, { seed: SEED, numRuns: N });
    const outcomes: Record<string, number> = {};
    const violations: string[] = [];
    // HTTP/1.1 drops leading and trailing whitespace of header values (RFC 9110 OWS):
    // judge against the values as Envoy received them.
    const ows = (v: string) => v.replace(/^[ \t]+|[ \t]+$/g, "");
    for (const [i, sent] of sets.entries()) {
      const h = {
        ...sent,
        cookies: sent.cookies.map(ows),
        origin: sent.origin === undefined ? undefined : ows(sent.origin),
        fetchSite: sent.fetchSite === undefined ? undefined : ows(sent.fetchSite),
        authorization: sent.authorization === undefined ? undefined : ows(sent.authorization),
      };
      const id = `fuzz-${i}`;
      const headers: [string, string][] = [
        ["host", h.authority],
        ["x-fuzz-id", id],
      ];
      for (const c of h.cookies) headers.push(["cookie", c]);
      if (h.origin !== undefined) headers.push(["origin", h.origin]);
      if (h.fetchSite !== undefined) headers.push(["sec-fetch-site", h.fetchSite]);
      if (h.authorization !== undefined) headers.push(["authorization", h.authorization]);
      const r = await rawRequest(Number(new URL(s.url).port), h.method, h.path, headers);
      const up = s.echo.requests.find((x) => x.headers["x-fuzz-id"] === id);
      let seen: Seen;
      let label: string;
      if (up) {
        const a = up.headers.authorization;
        seen = {
          forwarded: true,
          authorization: a === undefined ? [] : [a],
          cookies: up.headers.cookie ? [up.headers.cookie] : [],
        };
        label = seen.authorization.some((v) => v !== h.authorization)
          ? "forwarded with token"
          : "forwarded untouched";
      } else if ([401, 403, 503].includes(r.status)) {
        seen = { forwarded: false, status: r.status, body: r.body, authorization: [], cookies: [] };
        label = `filter ${r.status}`;
      } else {
        // Envoy's own codec refused it (400 for a malformed method or path…): nothing upstream.
        label = `envoy ${r.status}`;
        outcomes[label] = (outcomes[label] ?? 0) + 1;
        continue;
      }
      outcomes[label] = (outcomes[label] ?? 0) + 1;
      // The token-server fixture knows only LIVE: every other session is a 401 there.
      const bad = judge(h, seen, { exact: true, failing: new Set() });
      if (bad) violations.push(`#${i} ${bad}: ${JSON.stringify(h).slice(0, 300)}`);
    }
    expect(violations, `seed ${SEED}`).toEqual([]);
    expect(outcomes["forwarded with token"], JSON.stringify(outcomes)).toBeGreaterThan(0);
    expect(outcomes["filter 403"], JSON.stringify(outcomes)).toBeGreaterThan(0);
    expect(outcomes["filter 401"], JSON.stringify(outcomes)).toBeGreaterThan(0);
    // Envoy is still serving afterwards.
    expect((await s.envoy.stats()).size).toBeGreaterThan(0);
  });
});
