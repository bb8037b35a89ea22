// Property test (fast-check) through the Node host: arbitrary route metadata
// (well-formed, half-formed, not JSON, raw bytes) never traps the filter, and
// the cookie the metadata names as the session cookie never goes upstream:
// either the filter swaps and strips it, or it fails closed (503).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { budget } from "../harness/slowness.js";
import { host, req, SID } from "./helpers.js";

const RUNS = Math.min(Number(process.env.S2T_PROPERTY_RUNS ?? 100_000), 20_000);
const TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~";

const tokenish = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
const anything = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null));
// Well-formed apps (as the translator writes them) and half-formed objects.
const appId = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const goodApp = fc.record(
  {
    id: appId,
    cookie: tokenish.filter((t) => !t.endsWith("-login")).map((t) => `__Host-sg-${t}`),
    allowed_origins: fc.array(fc.constantFrom("https://a.test", "http://b.test:8080")),
  },
  { requiredKeys: ["id"] },
);
const junkApp = fc.record(
  {
    id: fc.oneof(appId, tokenish, anything),
    cookie: fc.oneof(
      tokenish,
      tokenish.map((t) => `__Host-sg-${t}`),
      anything,
    ),
    allowed_origins: fc.oneof(fc.array(fc.constantFrom("https://a.test", "", "x y")), anything),
    hosts: fc.constant(["*"]),
    extra: anything,
  },
  { requiredKeys: [] },
);
const metaObject = fc.oneof(goodApp, junkApp);
const metadata = fc.oneof(
  metaObject.map((o) => ({ text: JSON.stringify(o), obj: o as Record<string, unknown> })),
  fc.string({ maxLength: 40 }).map((text) => ({ text, obj: undefined })),
  fc.uint8Array({ maxLength: 16 }).map((b) => ({ text: b, obj: undefined })),
);

describe("route metadata, property", () => {
  it(`never traps and never forwards the cookie the route names (${RUNS} inputs)`, {
    timeout: budget(120_000),
  }, async () => {
    const h = await host('{"bff_cluster":"bff","apps":[]}');
    const seen = { swapped: 0, failedClosed: 0 };
    fc.assert(
      fc.property(metadata, fc.constantFrom("GET", "POST"), ({ text, obj }, method) => {
        const id = obj && typeof obj.id === "string" ? obj.id : "x";
        const named = obj && typeof obj.cookie === "string" ? obj.cookie : `__Host-sg-${id}`;
        const plain = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(named);
        const cookie = `other=1; ${plain ? named : "__Host-sg-x"}=${SID}`;
        const o = h.request(req([["cookie", cookie]], method), {
          routeMetadata: { sessiongate: { app: text } },
        });
        if (o.state === "paused") h.abandon(o);
        if (o.state === "paused") seen.swapped++;
        if (o.local?.status === 503) seen.failedClosed++;
        expect(["continue", "local", "paused"]).toContain(o.state);
        if (o.state === "local") expect([401, 403, 503]).toContain(o.local!.status);
        // Forwarded or waiting for the BFF: the named session cookie is gone, and so is
        // every other cookie in the reserved namespace (invariant 6).
        if (plain && o.state !== "local")
          for (const hv of o.all("cookie")) {
            const names = hv.split(";").map((p) => p.trim().split("=")[0]);
            expect(names).not.toContain(named);
            expect(names.filter((n) => n.toLowerCase().startsWith("__host-sg-"))).toEqual([]);
          }
      }),
      { numRuns: RUNS },
    );
    // Both sides were exercised, not only one.
    expect(seen.swapped).toBeGreaterThan(RUNS / 20);
    expect(seen.failedClosed).toBeGreaterThan(RUNS / 20);
  });
});
