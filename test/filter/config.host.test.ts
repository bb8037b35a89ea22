// Plugin configuration: defaults, and every bad config fails on_configure
// with an error log naming the field (docs/architecture.md#filter-plugin-configuration, #invariant-9).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHost } from "../wasm-host/index.js";
import { wasmModule } from "./helpers.js";

async function configure(json: string) {
  const h = await createHost(await wasmModule(), json);
  return { ok: h.configured, errors: h.logs.filter((l) => l.level >= 4).map((l) => l.message), h };
}

describe("plugin configuration", () => {
  it("accepts the contract's example and fills defaults", async () => {
    const { ok, h } = await configure(
      JSON.stringify({
        bff_cluster: "sessiongate_bff_internal",
        bff_authority: "sessiongate-bff",
        bff_path: "/internal/v1/session-token",
        bff_timeout_ms: 2000,
        bff_internal_key: "",
        cache: { enabled: true, slots: 16384, skew_s: 10, max_ttl_s: 30 },
        apps: [
          {
            id: "demo",
            hosts: ["localhost:10000"],
            path_prefix: "/",
            cookie: "__Host-sg-demo",
            allowed_origins: ["https://localhost:10000"],
          },
        ],
      }),
    );
    expect(ok).toBe(true);
    expect(h.logs.some((l) => l.message.includes("configured 1 app(s), cache 16384 slots"))).toBe(true);
  });

  it("defaults the cookie to __Host-sg-<id>, the BFF cluster and the timeout", async () => {
    const { ok, h } = await configure('{"apps":[{"id":"shop"}]}');
    expect(ok).toBe(true);
    const o = h.request([
      [":method", "GET"],
      [":path", "/"],
      [":authority", "any"],
      ["cookie", `__Host-sg-shop=${"a".repeat(43)}`],
    ]);
    expect(o.call?.cluster).toBe("sessiongate_bff_internal");
    expect(o.call?.timeoutMs).toBe(2000);
    expect(Object.fromEntries(o.call!.headers)[":authority"]).toBe("sessiongate-bff");
  });

  it.each([
    ["", "apps"], // empty configuration is {}: "apps" is missing
    ["[]", "(root)"],
    ["{", "(root)"],
    ['{"apps":[]} x', "(root)"],
    ['{"apps":[],"apps":[]}', "(root)"],
    ["{}", "apps"],
    ['{"apps":{}}', "apps"],
    ['{"apps":[],"bff_clster":"x"}', "bff_clster"],
    ['{"apps":[],"bff_cluster":""}', "bff_cluster"],
    ['{"apps":[],"bff_cluster":3}', "bff_cluster"],
    ['{"apps":[],"bff_path":"internal"}', "bff_path"],
    ['{"apps":[],"bff_timeout_ms":0}', "bff_timeout_ms"],
    ['{"apps":[],"bff_timeout_ms":1.5}', "bff_timeout_ms"],
    ['{"apps":[],"bff_timeout_ms":"2000"}', "bff_timeout_ms"],
    ['{"apps":[],"bff_internal_key":"a b"}', "bff_internal_key"],
    ['{"apps":[],"cache":[]}', "cache"],
    ['{"apps":[],"cache":{"enabled":"yes"}}', "cache.enabled"],
    ['{"apps":[],"cache":{"slots":0}}', "cache.slots"],
    ['{"apps":[],"cache":{"slots":2000000}}', "cache.slots"],
    ['{"apps":[],"cache":{"skew_s":-1}}', "cache.skew_s"],
    ['{"apps":[],"cache":{"max_ttl_s":0}}', "cache.max_ttl_s"],
    ['{"apps":[],"cache":{"ttl":1}}', "cache.ttl"],
    ['{"apps":[1]}', "apps[0]"],
    ['{"apps":[{}]}', "apps[0].id"],
    ['{"apps":[{"id":""}]}', "apps[0].id"],
    ['{"apps":[{"id":"a"},{"id":"a"}]}', "apps[1].id"],
    ['{"apps":[{"id":"a","hosts":[]}]}', "apps[0].hosts"],
    ['{"apps":[{"id":"a","hosts":[""]}]}', "apps[0].hosts[0]"],
    ['{"apps":[{"id":"a","path_prefix":"api"}]}', "apps[0].path_prefix"],
    ['{"apps":[{"id":"a","cookie":"a b"}]}', "apps[0].cookie"],
    ['{"apps":[{"id":"a","cookie":"x;y"}]}', "apps[0].cookie"],
    ['{"apps":[{"id":"a","allowed_origins":"https://x"}]}', "apps[0].allowed_origins"],
    ['{"apps":[{"id":"a","allowed_origins":[5]}]}', "apps[0].allowed_origins[0]"],
    ['{"apps":[{"id":"a","extra":1}]}', "apps[0].extra"],
  ])("refuses %s naming %s", async (json, field) => {
    const { ok, errors } = await configure(json);
    expect(ok).toBe(false);
    expect(errors.join("\n")).toContain(`field '${field}'`);
  });

  it("never traps on arbitrary configuration text (5k generated)", async () => {
    const h = await createHost(await wasmModule(), '{"apps":[]}');
    const jsonish = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.json({ maxDepth: 4 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ apps: [{ id: "a", hosts: v }], cache: v })),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        expect(typeof h.configure(text)).toBe("boolean");
      }),
      { numRuns: 5000 },
    );
    expect(h.configure('{"apps":[]}')).toBe(true);
  });
});
