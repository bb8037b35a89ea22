// test/wasm-host: a stream abandoned while its BFF call is pending drops the
// call (as Envoy cancels a destroyed stream's HTTP calls), so pendingCalls
// stays bounded over the header-fuzz campaign's million requests.
import { describe, expect, it } from "vitest";
import { config, host, req } from "../filter/helpers.js";

describe("wasm host: abandoned streams", () => {
  it("2,000 abandoned cache misses leave no pending call behind", async () => {
    const h = await host(config());
    let paused = 0;
    for (let i = 0; i < 2000; i++) {
      const o = h.request(req([["cookie", `__Host-sg-demo=m${String(i).padStart(42, "0")}`]]));
      if (o.state === "paused" && o.call) paused++;
      h.abandon(o);
    }
    expect(paused).toBe(2000);
    expect(h.pendingCalls.size).toBe(0);
    // The filter still works afterwards: a new miss is paused and answered.
    const o = h.request(req([["cookie", `__Host-sg-demo=${"k".repeat(43)}`]]));
    const done = h.answerHttpCall(o.call!.token, { status: 401, body: '{"error":"no_session"}' });
    expect(done.local?.status).toBe(401);
    expect(h.pendingCalls.size).toBe(0);
  });
});
