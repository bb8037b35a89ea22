// The VM's own copy of the token entries it found (filter/assembly/cache.ts,
// LOCAL_SLOTS): a hit without a shared-data read, which must answer exactly
// what the shared entry answered and never for longer (docs/architecture.md#token-cache).
import { describe, expect, it } from "vitest";
import type { Host, Outcome } from "../wasm-host/index.js";
import { config, host, req, SID, tokenBody } from "./helpers.js";

const C = "__Host-sg-demo";

function withCookie(sid: string): [string, string][] {
  return req([["cookie", `${C}=${sid}`]]);
}

/** One request to completion; a BFF call is answered with `token(sid)`. */
function run(h: Host, sid: string, token: (sid: string) => string, expiresIn = 300): Outcome {
  const o = h.request(withCookie(sid));
  if (o.state !== "paused") return o;
  return h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody(token(sid), expiresIn) });
}

describe("token cache: the VM's local copy", () => {
  it("serves a hit from the VM's copy, without reading shared data again", async () => {
    const h = await host();
    expect(run(h, SID, () => "t1").header("authorization")).toBe("Bearer t1");
    expect(h.request(withCookie(SID)).header("authorization")).toBe("Bearer t1"); // shared hit, copied
    // Overwrite every shared slot: a request that still read shared data would miss.
    for (const [k, e] of h.shared) h.shared.set(k, { value: new Uint8Array(e.value.length), cas: e.cas + 1 });
    const o = h.request(withCookie(SID));
    expect(o.state).toBe("continue");
    expect(o.call).toBeUndefined();
    expect(o.header("authorization")).toBe("Bearer t1");
  });

  it("a local copy ends with its shared entry (max_ttl_s): then the BFF is asked again", async () => {
    const h = await host(config({ cache: { enabled: true, slots: 64, skew_s: 10, max_ttl_s: 30 } }));
    expect(run(h, SID, () => "old").header("authorization")).toBe("Bearer old");
    expect(h.request(withCookie(SID)).header("authorization")).toBe("Bearer old");
    h.clock.nowMs += 29_000;
    expect(h.request(withCookie(SID)).header("authorization")).toBe("Bearer old");
    h.clock.nowMs += 1_001; // 30.001 s after the store: the entry and its copy have expired
    const o = h.request(withCookie(SID));
    expect(o.state).toBe("paused");
    expect(o.call).toBeDefined();
    expect(
      h.answerHttpCall(o.call!.token, { status: 401, body: '{"error":"no_session"}' }).local?.status,
    ).toBe(401);
  });

  it("never another session's token: 1,500 sessions through 8 shared slots and the local table (collisions are misses)", async () => {
    const h = await host(config({ cache: { enabled: true, slots: 8, skew_s: 10, max_ttl_s: 300 } }));
    const sids = Array.from({ length: 1500 }, (_, i) => `s${i}`.padEnd(43, "q"));
    const token = (sid: string) => `t_${sid}`;
    let calls = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < sids.length; i++) {
        // Each session twice in a row, so most second requests are hits (local or shared).
        for (let k = 0; k < 2; k++) {
          const o = h.request(withCookie(sids[i]));
          let done = o;
          if (o.state === "paused") {
            calls++;
            done = h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody(token(sids[i])) });
          }
          expect(done.header("authorization")).toBe(`Bearer ${token(sids[i])}`);
        }
      }
    }
    // Hits happened (the second request of a pair) and collisions were misses (BFF calls after round 1).
    expect(h.metrics.get("session_to_token.hits")).toBeGreaterThan(sids.length);
    expect(calls).toBeGreaterThan(sids.length);
  });
});
