// invariant 9 for the registration API at CI size: generated malformed calls
// against a real xds-server process with the Redis registry. The full-size
// run (10,000 calls) is `npx tsx test/badinput/run.ts registration`.
import { describe, expect, it } from "vitest";
import { budget } from "../harness/slowness.js";
import { runRegistrationCampaign } from "./campaigns.js";

const N = Number(process.env.BADINPUT_REG_N ?? 1000);
const SEED = Number(process.env.BADINPUT_SEED ?? 20261123);

describe("invariant 9: malformed registration calls get the right gRPC code and change nothing", () => {
  it(`${N} generated malformed calls (seed ${SEED}): right code naming the field, registry and Redis unchanged, server healthy`, {
    timeout: budget(240_000),
  }, async () => {
    const f = await runRegistrationCampaign({ n: N, seed: SEED });
    expect(f.violations, `seed ${f.seed}: ${f.violationCount} violations`).toEqual([]);
    const total = Object.values(f.outcomes).reduce((a, b) => a + b, 0);
    expect(total).toBe(N);
    expect(f.outcomes["OK"] ?? 0).toBe(0);
    // Every refusal family was exercised.
    const codes = new Set(Object.keys(f.outcomes).map((k) => k.split(" ")[0]));
    for (const c of [
      "INVALID_ARGUMENT",
      "UNAUTHENTICATED",
      "FAILED_PRECONDITION",
      "ALREADY_EXISTS",
      "NOT_FOUND",
      "INTERNAL",
    ])
      expect(codes, c).toContain(c);
    expect(f.extra.healthy_after).toBe(true);
    expect(f.extra.valid_call_after).toBe(true);
    expect(f.extra.revision_after_refusals).toBe(f.extra.revision_before);
  });
});
