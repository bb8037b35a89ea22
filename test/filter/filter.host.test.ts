// Behaviour of the filter (docs/architecture.md#request-path) through the Node proxy-wasm host.
import { describe, expect, it } from "vitest";
import { createHost } from "../wasm-host/index.js";
import { WA } from "../wasm-host/wasm.js";
import { config, HOST, host, req, SID, SID2, tokenBody, wasmModule } from "./helpers.js";

const C = "__Host-sg-demo";
const M = (n: string) => `session_to_token.${n}`;

describe("module shape", () => {
  it("imports only env.proxy_* and exports the ABI 0.2.1 entry points", async () => {
    const m = await wasmModule();
    const imports = WA.Module.imports(m);
    expect(imports.length).toBeGreaterThan(0);
    for (const i of imports) expect(`${i.module}.${i.name}`).toMatch(/^env\.proxy_[a-z_0-9]+$/);
    const names = WA.Module.exports(m).map((e) => e.name);
    for (const n of [
      "proxy_abi_version_0_2_1",
      "_initialize",
      "proxy_on_memory_allocate",
      "malloc",
      "proxy_on_context_create",
      "proxy_on_configure",
      "proxy_on_request_headers",
      "proxy_on_http_call_response",
      "proxy_on_delete",
      "memory",
    ]) {
      expect(names).toContain(n);
    }
  });
});

describe("pass-through", () => {
  it("leaves a request without cookie untouched but for x-sessiongate-app (a static config's filter names the app)", async () => {
    const h = await host();
    const o = h.request(req([["x-a", "1"]]));
    expect(o.state).toBe("continue");
    expect(o.headers).toEqual(
      req([
        ["x-a", "1"],
        ["x-sessiongate-app", "demo"],
      ]),
    );
    expect(h.metrics.get(M("passthrough"))).toBe(1);
    expect(h.pendingCalls.size).toBe(0);
  });
  it("passes requests for other hosts or without the app's cookie on, minus every sessiongate cookie (invariant 6)", async () => {
    const h = await host();
    const other = h.request([
      [":method", "GET"],
      [":path", "/"],
      [":authority", "other.example"],
      ["cookie", `${C}=${SID}; lang=en`],
    ]);
    expect(other.state).toBe("continue");
    expect(other.header("cookie")).toBe("lang=en");
    expect(h.pendingCalls.size).toBe(0);
    const foreign = h.request(req([["cookie", "a=b; __Host-sg-other=x"]]));
    expect(foreign.state).toBe("continue");
    expect(foreign.header("cookie")).toBe("a=b");
    const untouched = h.request(req([["cookie", "a=b; c=d"]]));
    expect(untouched.all("cookie")).toEqual(["a=b; c=d"]);
  });
  it('passes everything with {"apps":[]}, without sessiongate cookies', async () => {
    const h = await host('{"apps":[]}');
    expect(h.configured).toBe(true);
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(o.state).toBe("continue");
    expect(o.all("cookie")).toEqual([]);
  });
  it.each(["", " ", "\t", "\u00a0", " \r\n "])(
    "an authorization header of only whitespace (%j) is no credential: the session is swapped in",
    async (blank) => {
      const h = await host();
      const o = h.request(
        req([
          ["authorization", blank],
          ["cookie", `${C}=${SID}`],
        ]),
      );
      expect(o.state).toBe("paused");
      expect(h.pendingCalls.size).toBe(1);
    },
  );
  it("keeps an own authorization header, strips only the session cookie, calls no BFF", async () => {
    const h = await host();
    const o = h.request(
      req(
        [
          ["authorization", "Bearer mine"],
          ["cookie", `x=1; ${C}=${SID}`],
        ],
        "POST",
      ),
    );
    expect(o.state).toBe("continue");
    expect(o.header("authorization")).toBe("Bearer mine");
    expect(o.header("cookie")).toBe("x=1");
    expect(h.pendingCalls.size).toBe(0);
  });
});

describe("session swap", () => {
  it("calls the BFF on a miss, sets authorization, strips only the session cookie", async () => {
    const h = await host(
      config({
        bff_internal_key: "k1",
        bff_authority: "bff.internal",
        bff_path: "/internal/v1/session-token",
      }),
    );
    const o = h.request(req([["cookie", `a=1; ${C}=${SID}; b="2"`]]));
    expect(o.state).toBe("paused");
    expect(o.call?.cluster).toBe("bff");
    const ch = Object.fromEntries(o.call?.headers ?? []);
    expect(ch).toMatchObject({
      ":method": "GET",
      ":path": "/internal/v1/session-token",
      ":authority": "bff.internal",
      "x-sessiongate-app": "demo",
      "x-sessiongate-session": SID,
      "x-sessiongate-internal-key": "k1",
    });
    expect(o.call?.timeoutMs).toBe(2000);
    const done = h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("tok.en.1") });
    expect(done.state).toBe("continue");
    expect(done.header("authorization")).toBe("Bearer tok.en.1");
    expect(done.all("cookie")).toEqual(['a=1; b="2"']);
    expect(h.metrics.get(M("misses"))).toBe(1);
  });
  it("serves the second request from the cache without a BFF call", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("t1") });
    const again = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(again.state).toBe("continue");
    expect(again.header("authorization")).toBe("Bearer t1");
    expect(again.header("cookie")).toBeUndefined();
    expect(h.pendingCalls.size).toBe(0);
    expect(h.metrics.get(M("hits"))).toBe(1);
  });
  it("expires entries at min(expires_in - skew, max_ttl)", async () => {
    const h = await host(); // skew 10, max_ttl 30
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("t1", 300) });
    h.clock.nowMs += 29_000;
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("continue");
    h.clock.nowMs += 1_001;
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");

    const h2 = await host();
    const o2 = h2.request(req([["cookie", `${C}=${SID}`]]));
    h2.answerHttpCall(o2.call!.token, { status: 200, body: tokenBody("t2", 15) });
    h2.clock.nowMs += 4_900;
    expect(h2.request(req([["cookie", `${C}=${SID}`]])).state).toBe("continue");
    h2.clock.nowMs += 200;
    expect(h2.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");
  });
  it("does not cache when the cache is off", async () => {
    const h = await host(config({ cache: { enabled: false } }));
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("t", 300) });
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");
  });
  it("uses a token handed out within the skew (its refresh failing or under way) for half its remaining life (at least 1 s), and never one about to expire", async () => {
    const h = await host(); // skew 10
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("due", 10) });
    h.clock.nowMs += 4_400; // (10 s - 1 s) / 2 = 4.5 s
    const hit = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(hit.state).toBe("continue");
    expect(hit.header("authorization")).toBe("Bearer due");
    h.clock.nowMs += 200;
    const again = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(again.state).toBe("paused");
    // Two seconds left: 1 s (the floor), then asked again.
    h.answerHttpCall(again.call!.token, { status: 200, body: tokenBody("due", 2) });
    h.clock.nowMs += 900;
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("continue");
    h.clock.nowMs += 200;
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");
    // One second left: not cached (the entry would outlive the token at the upstream's clock).
    const h2 = await host();
    const o2 = h2.request(req([["cookie", `${C}=${SID}`]]));
    h2.answerHttpCall(o2.call!.token, { status: 200, body: tokenBody("last", 1) });
    expect(h2.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");
  });
  it("never returns another session's token when both share one slot", async () => {
    const h = await host(config({ cache: { slots: 1 } }));
    const a = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(a.call!.token, { status: 200, body: tokenBody("token-A") });
    const b = h.request(req([["cookie", `${C}=${SID2}`]]));
    expect(b.state).toBe("paused");
    expect(b.header("authorization")).toBeUndefined();
    h.answerHttpCall(b.call!.token, { status: 200, body: tokenBody("token-B") });
    const a2 = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(a2.state).toBe("paused");
  });
  it("skips the write when another worker wrote the slot meanwhile (CAS)", async () => {
    const h = await host(config({ cache: { slots: 1 } }));
    // Envoy's shared data has no create-if-absent: the first write to an empty
    // slot is unconditional. Fill the slot and let the entry expire first.
    const first = h.request(req([["cookie", `${C}=${SID}`]]));
    h.answerHttpCall(first.call!.token, { status: 200, body: tokenBody("old") });
    h.clock.nowMs += 60_000;
    const a = h.request(req([["cookie", `${C}=${SID}`]]));
    const b = h.request(req([["cookie", `${C}=${SID2}`]]));
    h.answerHttpCall(b.call!.token, { status: 200, body: tokenBody("token-B") });
    h.answerHttpCall(a.call!.token, { status: 200, body: tokenBody("token-A") });
    // A's write lost the CAS race: B's entry stays.
    expect(h.request(req([["cookie", `${C}=${SID2}`]])).header("authorization")).toBe("Bearer token-B");
  });
  it("routes each BFF answer to the stream that made the call, whatever the order of the answers", async () => {
    const h = await host(config({ cache: { enabled: false } }));
    const sessions = [SID, SID2, `${SID.slice(0, -1)}Z`];
    const paused = sessions.map((sid) => h.request(req([["cookie", `${C}=${sid}`]])));
    expect(paused.map((o) => o.state)).toEqual(["paused", "paused", "paused"]);
    for (const i of [2, 0, 1]) {
      const r = h.answerHttpCall(paused[i].call!.token, { status: 200, body: tokenBody(`token-${i}`) });
      expect(r.contextId).toBe(paused[i].contextId);
      expect(r.state).toBe("continue");
      expect(r.header("authorization")).toBe(`Bearer token-${i}`);
    }
    expect(paused.map((o) => o.header("authorization"))).toEqual([
      "Bearer token-0",
      "Bearer token-1",
      "Bearer token-2",
    ]);
  });
});

describe("failures", () => {
  it("answers 401 JSON and clears the cookie when the BFF knows no session", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    const r = h.answerHttpCall(o.call!.token, { status: 401, body: '{"error":"no_session"}' });
    expect(r.state).toBe("local");
    expect(r.local?.status).toBe(401);
    expect(JSON.parse(r.local!.body)).toEqual({ error: "no_session" });
    expect(r.local?.headers).toContainEqual([
      "set-cookie",
      `${C}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict`,
    ]);
    expect(r.local?.headers).toContainEqual(["content-type", "application/json"]);
    expect(h.metrics.get(M("no_session"))).toBe(1);
  });
  it("answers 401 without a BFF call for a malformed session id", async () => {
    const h = await host();
    for (const v of ["", "a b", "x".repeat(257), "ab$c", "é"]) {
      const o = h.request(req([["cookie", `${C}=${v}`]]));
      expect(o.state, v).toBe("local");
      expect(o.local?.status).toBe(401);
    }
    expect(h.pendingCalls.size).toBe(0);
  });
  it.each([
    ["500", { status: 500, body: "oops" }],
    ["timeout / unreachable", null],
    ["malformed JSON", { status: 200, body: "{" }],
    ["missing access_token", { status: 200, body: '{"expires_in":3}' }],
    ["token with spaces", { status: 200, body: '{"access_token":"a b","expires_in":3}' }],
    ["wrong token_type", { status: 200, body: '{"access_token":"ab","token_type":"MAC","expires_in":3}' }],
  ])("fails closed with 503 on BFF error: %s", async (_n, answer) => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    const r = h.answerHttpCall(o.call!.token, answer);
    expect(r.state).toBe("local");
    expect(r.local?.status).toBe(503);
    expect(r.header("authorization")).toBeUndefined();
    expect(r.header("cookie")).toBeUndefined();
    expect(h.metrics.get(M("bff_errors"))).toBe(1);
  });
  it("remembers a 502 (the provider cannot refresh the session) for 1 s: 503 without a BFF call, then asks again; other errors are not remembered", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(
      h.answerHttpCall(o.call!.token, { status: 502, body: '{"error":"idp_unavailable"}' }).local?.status,
    ).toBe(503);
    h.clock.nowMs += 900;
    const cached = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(cached.state).toBe("local");
    expect(cached.local?.status).toBe(503);
    expect(cached.header("authorization")).toBeUndefined();
    expect(h.pendingCalls.size).toBe(0);
    expect(h.metrics.get(M("bff_errors"))).toBe(2);
    // Another session in the same table is not affected.
    expect(h.request(req([["cookie", `${C}=${SID2}`]])).state).toBe("paused");
    h.clock.nowMs += 200;
    const again = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(again.state).toBe("paused");
    // A 503 (store down) or no answer is not remembered: the next request asks again.
    expect(h.answerHttpCall(again.call!.token, { status: 503, body: "{}" }).local?.status).toBe(503);
    expect(h.request(req([["cookie", `${C}=${SID}`]])).state).toBe("paused");
  });
  it("fails closed when the BFF cluster is unknown", async () => {
    const h = await createHost(await wasmModule(), config({ bff_cluster: "nope" }), { clusters: ["bff"] });
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(o.local?.status).toBe(503);
  });
  it("a stream that went away loses its BFF call, and the next request starts afresh", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}`]]));
    h.abandon(o);
    // Like Envoy, the host cancels a destroyed stream's calls: no answer can arrive.
    expect(() => h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("t") })).toThrow(
      /no pending call/,
    );
    expect(h.request(req()).state).toBe("continue");
    const again = h.request(req([["cookie", `${C}=${SID}`]]));
    expect(again.state).toBe("paused");
    expect(again.call?.token).not.toBe(o.call!.token);
  });
});

describe("cross-site requests", () => {
  const cookie: [string, string] = ["cookie", `${C}=${SID}`];
  it.each([
    ["POST", [["sec-fetch-site", "cross-site"]]],
    ["DELETE", [["origin", "https://evil.example"]]],
    ["PUT", [["origin", "null"]]],
    ["PATCH", [["sec-fetch-site", "same-site"]]],
    [
      "POST",
      [
        ["origin", `https://${HOST}`],
        ["sec-fetch-site", "cross-site"],
      ],
    ],
  ] as [string, [string, string][]][])("refuses %s with %j", async (method, extra) => {
    const h = await host();
    const o = h.request(req([cookie, ...extra], method));
    expect(o.local?.status).toBe(403);
    expect(JSON.parse(o.local!.body)).toEqual({ error: "csrf_denied" });
    expect(h.metrics.get(M("csrf_denied"))).toBe(1);
    expect(h.pendingCalls.size).toBe(0);
  });
  it.each([
    [
      "POST",
      [
        ["origin", `https://${HOST}`],
        ["sec-fetch-site", "same-origin"],
      ],
    ],
    ["POST", [["origin", `HTTPS://${HOST.toUpperCase()}`]]],
    ["POST", []],
    [
      "GET",
      [
        ["origin", "https://evil.example"],
        ["sec-fetch-site", "cross-site"],
      ],
    ],
    ["OPTIONS", [["sec-fetch-site", "cross-site"]]],
  ] as [string, [string, string][]][])(
    "lets %s with %j through to the session lookup",
    async (method, extra) => {
      const h = await host();
      const o = h.request(req([cookie, ...extra], method));
      expect(o.state).toBe("paused");
    },
  );
  it("uses the request's own origin when allowed_origins is empty", async () => {
    const h = await host(config({}, { allowed_origins: [] }));
    expect(h.request(req([cookie, ["origin", `https://${HOST}`]], "POST")).state).toBe("paused");
    expect(h.request(req([cookie, ["origin", "https://other.example"]], "POST")).local?.status).toBe(403);
  });
});

describe("cookie parsing", () => {
  it("finds the session cookie across several headers, with spaces and quotes, first one wins", async () => {
    const h = await host();
    const o = h.request(
      req([
        ["cookie", "a=1;b=2"],
        ["cookie", ` ${C} = "${SID}" ; c=3`],
        ["cookie", `${C}=${SID2}`],
      ]),
    );
    expect(o.state).toBe("paused");
    expect(Object.fromEntries(o.call!.headers)["x-sessiongate-session"]).toBe(SID);
    expect(o.all("cookie")).toEqual(["a=1; b=2; c=3"]);
  });
  it("removes the Cookie header when only the session cookie was in it", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `${C}=${SID}; ${C}=${SID2}`]]));
    expect(o.all("cookie")).toEqual([]);
  });
  it("does not confuse cookie names that merely contain the session cookie's name", async () => {
    const h = await host();
    const o = h.request(req([["cookie", `x${C}=${SID}; ${C}x=${SID}`]]));
    expect(o.state).toBe("continue");
    expect(h.pendingCalls.size).toBe(0);
    // `${C}x` is another name in the reserved namespace: dropped, never taken as the session.
    expect(o.header("cookie")).toBe(`x${C}=${SID}`);
  });
});

describe("app selection", () => {
  it("takes the longest path prefix, then an exact host over *", async () => {
    const cfg = JSON.stringify({
      bff_cluster: "bff",
      apps: [
        { id: "root", hosts: ["*"], path_prefix: "/", cookie: "__Host-sg-c_root" },
        { id: "api", hosts: ["*"], path_prefix: "/api/", cookie: "__Host-sg-c_api" },
        { id: "apiexact", hosts: [HOST.toUpperCase()], path_prefix: "/api/", cookie: "__Host-sg-c_exact" },
      ],
    });
    const h = await host(cfg);
    const sessionApp = (path: string, cookie: string) => {
      const o = h.request(req([["cookie", cookie]], "GET", path));
      return Object.fromEntries(o.call?.headers ?? [])["x-sessiongate-app"];
    };
    expect(sessionApp("/api/x", `__Host-sg-c_exact=${SID}`)).toBe("apiexact");
    expect(sessionApp("/api/x", `__Host-sg-c_api=${SID}`)).toBeUndefined();
    expect(sessionApp("/other", `__Host-sg-c_root=${SID}`)).toBe("root");
  });
});
