// The app named by the route (route metadata, filter_metadata "sessiongate",
// key "app") through the Node proxy-wasm host: used over the plugin's `apps`
// list, which is then only the fallback for routes without it.
import { describe, expect, it } from "vitest";
import type { RequestOptions } from "../wasm-host/index.js";
import { config, HOST, host, req, SID, tokenBody } from "./helpers.js";

const M = (n: string) => `session_to_token.${n}`;
const EMPTY = '{"bff_cluster":"bff","apps":[]}';
const meta = (app: unknown): RequestOptions => ({
  routeMetadata: { sessiongate: { app: typeof app === "string" ? app : JSON.stringify(app) } },
});
const SHOP = meta({ id: "shop", cookie: "__Host-sg-shop", allowed_origins: ["https://shop.example"] });

describe("route metadata names the app", () => {
  it("swaps the route's app cookie with an empty apps list, and sends the route's app id", async () => {
    const h = await host(EMPTY);
    expect(h.configured).toBe(true);
    const o = h.request(req([["cookie", `a=1; __Host-sg-shop=${SID}`]]), SHOP);
    expect(o.state).toBe("paused");
    const ch = Object.fromEntries(o.call?.headers ?? []);
    expect(ch["x-sessiongate-app"]).toBe("shop");
    expect(ch["x-sessiongate-session"]).toBe(SID);
    const done = h.answerHttpCall(o.call!.token, { status: 200, body: tokenBody("t.o.k") });
    expect(done.header("authorization")).toBe("Bearer t.o.k");
    expect(done.all("cookie")).toEqual(["a=1"]);
    // Cached under the route's app id: the second request makes no call.
    const again = h.request(req([["cookie", `__Host-sg-shop=${SID}`]]), SHOP);
    expect(again.state).toBe("continue");
    expect(again.header("authorization")).toBe("Bearer t.o.k");
    expect(h.metrics.get(M("hits"))).toBe(1);
  });

  it("wins over the apps list: the list's app and cookie are ignored on a routed request", async () => {
    const h = await host(config());
    const listed = h.request(req([["cookie", `__Host-sg-demo=${SID}`]]), SHOP);
    expect(listed.state).toBe("continue");
    // Not the route's app, so no swap; still a sessiongate cookie, so never forwarded (invariant 6).
    expect(listed.all("cookie")).toEqual([]);
    expect(h.pendingCalls.size).toBe(0);
  });

  it("defaults the cookie to __Host-sg-<id> and applies the route's allowed origins", async () => {
    const h = await host(EMPTY);
    const m = meta({ id: "blog", allowed_origins: ["https://Blog.Example"] });
    const ok = h.request(
      req(
        [
          ["cookie", `__Host-sg-blog=${SID}`],
          ["origin", "https://blog.example"],
        ],
        "POST",
      ),
      m,
    );
    expect(ok.state).toBe("paused");
    expect(Object.fromEntries(ok.call?.headers ?? [])["x-sessiongate-app"]).toBe("blog");
    const denied = h.request(
      req(
        [
          ["cookie", `__Host-sg-blog=${SID}`],
          ["origin", `https://${HOST}`],
        ],
        "POST",
      ),
      m,
    );
    expect(denied.local?.status).toBe(403);
    expect(denied.header("cookie")).toBeUndefined();
  });

  it("clears the route's cookie on 401", async () => {
    const h = await host(EMPTY);
    const o = h.request(req([["cookie", "__Host-sg-shop=bad value"]]), SHOP);
    expect(o.local?.status).toBe(401);
    expect(o.local?.headers).toContainEqual([
      "set-cookie",
      expect.stringMatching(/^__Host-sg-shop=; Max-Age=0/),
    ]);
  });

  it("falls back to the apps list on a route without sessiongate metadata", async () => {
    const h = await host(config());
    const other = { routeMetadata: { someone_else: { app: '{"id":"shop"}' } } };
    const o = h.request(req([["cookie", `__Host-sg-demo=${SID}`]]), other);
    expect(o.state).toBe("paused");
    expect(Object.fromEntries(o.call?.headers ?? [])["x-sessiongate-app"]).toBe("demo");
    const none = await host(EMPTY);
    const p = none.request(req([["cookie", `__Host-sg-demo=${SID}`]]));
    expect(p.state).toBe("continue");
    expect(none.metrics.get(M("passthrough"))).toBe(1);
  });

  it.each([
    ["not JSON", "{id:shop}", "invalid route metadata: field '(root)': not valid JSON"],
    ["empty", "", "invalid route metadata: field '(root)': not valid JSON"],
    ["not an object", '["shop"]', "invalid route metadata: field '(root)': must be an object"],
    ["no id", "{}", "invalid route metadata: field 'id': is required"],
    ["bad cookie name", '{"id":"shop","cookie":"a b"}', "invalid route metadata: field 'cookie'"],
    ["bad origins", '{"id":"shop","allowed_origins":"https://x"}', "field 'allowed_origins'"],
    ["routing keys", '{"id":"shop","hosts":["*"]}', "invalid route metadata: field 'hosts': unknown field"],
    ["a number leaf", new Uint8Array([0, 0, 0, 0, 0, 0, 0x14, 0x40]), "invalid route metadata"],
  ] as [string, string | Uint8Array, string][])(
    "fails closed on malformed metadata (%s): 503, cookie never forwarded, logged once",
    async (_what, value, logged) => {
      const h = await host(config());
      const m = { routeMetadata: { sessiongate: { app: value } } };
      for (let i = 0; i < 3; i++) {
        const o = h.request(req([["cookie", `__Host-sg-demo=${SID}; __Host-sg-shop=${SID}`]]), m);
        expect(o.state).toBe("local");
        expect(o.local?.status).toBe(503);
        expect(JSON.parse(o.local!.body)).toEqual({ error: "session_service_unavailable" });
      }
      expect(h.pendingCalls.size).toBe(0);
      expect(h.metrics.get(M("bad_route_metadata"))).toBe(3);
      const errors = h.logs.filter((l) => l.message.includes("invalid route metadata"));
      expect(errors).toHaveLength(1);
      expect(errors[0].message).toContain(logged);
      expect(errors[0].level).toBe(4);
      // Without any cookie there is nothing to protect: left to jwt_authn.
      expect(h.request(req(), m).state).toBe("continue");
    },
  );

  it("serves many distinct route values, each under its own app id", async () => {
    const h = await host(EMPTY);
    for (let i = 0; i < 300; i++) {
      const o = h.request(req([["cookie", `__Host-sg-a${i}=${SID}`]]), meta({ id: `a${i}` }));
      expect(Object.fromEntries(o.call?.headers ?? [])["x-sessiongate-app"]).toBe(`a${i}`);
      h.abandon(o);
    }
    expect(h.metrics.get(M("misses"))).toBe(300);
  });
});

describe('BFF routes ("bff": true): only the app\'s own cookies reach the BFF (invariant 6)', () => {
  const BFF = meta({ id: "shop", bff: true });
  const all = `__Host-sg-shop=${SID}; __Host-sg-shop-login=state; __Host-sg-mall=${SID}; __Host-sg-mall-login=x; lang=en`;

  it("keeps the app's session and login cookies untouched, drops every other app's, never swaps", async () => {
    const h = await host(EMPTY);
    const o = h.request(req([["cookie", all]]), BFF);
    expect(o.state).toBe("continue");
    expect(o.all("cookie")).toEqual([`__Host-sg-shop=${SID}; __Host-sg-shop-login=state; lang=en`]);
    expect(o.header("authorization")).toBeUndefined();
    expect(h.pendingCalls.size).toBe(0);
  });

  it("leaves CSRF to the BFF (no 403 from the filter) and forwards a malformed session value as is", async () => {
    const h = await host(EMPTY);
    const o = h.request(
      req(
        [
          ["cookie", "__Host-sg-shop=not a session; __Host-sg-other=1"],
          ["origin", "https://evil.example"],
        ],
        "POST",
      ),
      BFF,
    );
    expect(o.state).toBe("continue");
    expect(o.all("cookie")).toEqual(["__Host-sg-shop=not a session"]);
  });

  it('refuses a non-boolean "bff" like any malformed metadata: 503 when cookies are sent', async () => {
    const h = await host(EMPTY);
    const o = h.request(req([["cookie", `__Host-sg-shop=${SID}`]]), meta({ id: "shop", bff: "yes" }));
    expect(o.local?.status).toBe(503);
  });
});
