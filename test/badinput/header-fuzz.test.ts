// invariants 5, 6 and 9 for the filter at CI size: generated header sets
// through the filter in the Node proxy-wasm host. The full-size run
// (1,000,000 sets) is `npx tsx test/badinput/run.ts headers`.
import { describe, expect, it } from "vitest";
import { budget } from "../harness/slowness.js";
import { runHeaderFuzzCampaign } from "./campaigns.js";
import { HOST, SESSIONS, tokenFor } from "./headers/gen.js";
import { judge } from "./headers/judge.js";

const N = Number(process.env.BADINPUT_HEADERS_N ?? 100_000);
const SEED = Number(process.env.BADINPUT_SEED ?? 20261123);

describe("invariants 5, 6, 9: fuzzed Cookie / Origin / Sec-Fetch-Site / Authorization / method / path", () => {
  it(`${N.toLocaleString("en-US")} generated header sets (seed ${SEED}): no trap, the documented decision, no other session's token, cookie never upstream, no cross-site pass-through`, {
    timeout: budget(240_000),
  }, async () => {
    const f = await runHeaderFuzzCampaign({ n: N, seed: SEED, recreateEvery: 25_000 });
    expect(f.violations, `seed ${f.seed}: ${f.violationCount} violations`).toEqual([]);
    expect(f.outcomes.trap ?? 0).toBe(0);
    expect(Object.values(f.outcomes).reduce((a, b) => a + b, 0)).toBe(N);
    for (const o of ["forwarded with token", "forwarded untouched", "local 401", "local 403", "local 503"])
      expect(f.outcomes[o], o).toBeGreaterThan(0);
    expect(f.extra.max_pending_calls).toBe(0);
    expect(f.extra.hosts_created).toBe(Math.ceil(N / 25_000));
  });

  it("the judge flags each broken property (so a passing campaign means something)", () => {
    const sid = SESSIONS[0];
    const h = {
      method: "POST",
      path: "/api/x",
      authority: HOST,
      cookies: [`__Host-sg-demo=${sid}`],
      origin: "https://evil.example",
      abandon: false,
    };
    const fwd = (authorization: string[], cookies: string[] = []) => ({
      forwarded: true,
      authorization,
      cookies,
    });
    expect(judge(h, fwd([`Bearer ${tokenFor(SESSIONS[1])}`]))).toMatch(/another session/);
    expect(judge({ ...h, method: "GET", origin: undefined }, fwd([], [`__Host-sg-demo=${sid}`]))).toMatch(
      /invariant 6/,
    );
    expect(judge(h, fwd([]))).toMatch(/invariant 5/);
    expect(judge(h, { forwarded: false, status: 200, authorization: [], cookies: [] })).toMatch(/status/);
    expect(judge(h, { forwarded: false, status: 403, body: "no", authorization: [], cookies: [] })).toMatch(
      /JSON/,
    );
    expect(
      judge(h, {
        forwarded: false,
        status: 403,
        body: '{"error":"csrf_denied"}',
        authorization: [],
        cookies: [],
      }),
    ).toBe("");
    expect(judge({ ...h, method: "GET", origin: undefined }, fwd([`Bearer ${tokenFor(sid)}`]))).toBe("");
    // The exact decision table: a live session on a safe request must get its token.
    const local401 = {
      forwarded: false,
      status: 401,
      body: '{"error":"no_session"}',
      authorization: [],
      cookies: [],
    };
    expect(judge({ ...h, method: "GET", origin: undefined }, local401, { exact: true })).toMatch(
      /documented/,
    );
    expect(judge({ ...h, method: "GET", origin: undefined }, local401)).toBe("");
  });
});
