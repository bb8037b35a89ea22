// The filter's copy of the shared rules (filter/assembly, AssemblyScript cannot
// import contracts/rules.ts) agrees with contracts/rules.ts: the compiled filter
// runs in the Node proxy-wasm host over shared vectors, and the module's own
// functions are the oracle. A rule changed on one side only fails here.
import { describe, expect, it } from "vitest";
import {
  COOKIE_NAMESPACE,
  defaultCookieName,
  HEADER,
  INTERNAL_TOKEN_PATH,
  inCookieNamespace,
  isAppId,
  isCookieName,
  isSessionId,
  ROUTE_METADATA,
} from "../../contracts/rules.js";
import { host, req, SID } from "./helpers.js";

const APP_IDS = [
  "a",
  "demo",
  "a-b",
  "ab--c",
  "1",
  "9z",
  "a-",
  "-a",
  "A",
  "a_b",
  "a.b",
  "é",
  "",
  "x".repeat(63),
  "x".repeat(64),
  "x-login",
];

const COOKIES = [
  "__Host-sg-a",
  "__Host-sg-Shop_1",
  "__Host-sg-a.b!#$%&'*+^`|~",
  `__Host-sg-${"x".repeat(112)}`,
  `__Host-sg-${"x".repeat(113)}`,
  "__Host-sg-",
  "__host-sg-a",
  "__Host-a",
  "sid",
  "sg-a",
  "__Host-sg-a b",
  "__Host-sg-a;b",
  "__Host-sg-a=b",
  "__Host-sg-a,b",
  '__Host-sg-a"b',
  "__Host-sg-a-login",
  "__Host-sg-a-logins",
];

const SESSION_IDS = [
  SID,
  "a",
  "A-_z09",
  "a".repeat(256),
  "a".repeat(257),
  "a.b",
  "a+b",
  "a/b",
  "a%20",
  "a b",
  "",
];

const OTHER_COOKIE_NAMES = [
  "__Host-sg-other",
  "__host-sg-other",
  "__HOST-SG-OTHER",
  "__Host-sg-demo-login",
  "__Host-sgx",
  "__Host-",
  "__Host-other",
  "sg-other",
  "x__Host-sg-",
  "lang",
];

const plugin = (app: Record<string, unknown>) =>
  JSON.stringify({ bff_cluster: "bff", bff_internal_key: "k".repeat(16), apps: [{ hosts: ["*"], ...app }] });

describe("filter rules = contracts/rules.ts", () => {
  it.each(APP_IDS)("app id %j: the filter accepts it iff the shared rules do", async (id) => {
    const h = await host(plugin({ id }));
    // The filter names the default cookie after the id, so both must hold.
    expect(h.configured).toBe(isAppId(id) && isCookieName(defaultCookieName(id)));
  });

  it.each(COOKIES)("cookie name %j: the filter accepts it iff the shared rules do", async (cookie) => {
    const h = await host(plugin({ id: "a", cookie }));
    expect(h.configured).toBe(isCookieName(cookie));
  });

  it.each(SESSION_IDS)(
    "session id %j: asked of the BFF iff the shared rules call it a session id",
    async (v) => {
      const h = await host(plugin({ id: "demo" }));
      const o = h.request(req([["cookie", `${defaultCookieName("demo")}=${v}`]]));
      if (isSessionId(v)) {
        expect(o.state).toBe("paused");
        expect(Object.fromEntries(o.call!.headers)[HEADER.session]).toBe(v);
      } else {
        expect(o.local?.status).toBe(401);
        expect(h.pendingCalls.size).toBe(0);
      }
    },
  );

  it.each(OTHER_COOKIE_NAMES)(
    "cookie %j reaches the upstream iff it is outside the namespace",
    async (name) => {
      const h = await host(plugin({ id: "demo" }));
      const o = h.request(req([["cookie", `${name}=v; keep=1`]]));
      expect(o.state).toBe("continue");
      expect(o.header("cookie")).toBe(inCookieNamespace(name) ? "keep=1" : `${name}=v; keep=1`);
    },
  );

  it("the namespace, default cookie, BFF call headers and path are the shared ones", async () => {
    expect(defaultCookieName("shop").startsWith(COOKIE_NAMESPACE)).toBe(true);
    const h = await host(plugin({ id: "shop" }));
    const o = h.request(req([["cookie", `${defaultCookieName("shop")}=${SID}`]]));
    const call = Object.fromEntries(o.call!.headers);
    expect(call[":path"]).toBe(INTERNAL_TOKEN_PATH);
    expect(call[HEADER.app]).toBe("shop");
    expect(call[HEADER.session]).toBe(SID);
    expect(call[HEADER.internalKey]).toBe("k".repeat(16));
  });

  it("reads the app from the shared route-metadata namespace and key", async () => {
    const h = await host('{"bff_cluster":"bff","apps":[]}');
    const o = h.request(req([["cookie", `${defaultCookieName("routed")}=${SID}`]]), {
      routeMetadata: { [ROUTE_METADATA.namespace]: { [ROUTE_METADATA.key]: '{"id":"routed"}' } },
    });
    expect(o.state).toBe("paused");
    expect(Object.fromEntries(o.call!.headers)[HEADER.app]).toBe("routed");
  });
});
