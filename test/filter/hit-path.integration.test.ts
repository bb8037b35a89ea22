// The same hit-path behaviour tests against both the wasm filter and the Lua
// reference (envoy/lua-reference.yaml), so the benchmark compares like with like.
import { beforeAll, describe, expect, it } from "vitest";
import { COOKIE, ORIGIN, type Stack, startStack } from "./envoy-fixture.js";

const SID = "h".repeat(43);
const LUA_VARS = { COOKIE_NAME: COOKIE, APP_ID: "demo", ALLOWED_ORIGIN: ORIGIN, BFF_TIMEOUT_MS: 500 };

describe.each([
  ["wasm", "wasm-filter.yaml"],
  ["lua", "lua-reference.yaml"],
])("hit path: %s", (name, file) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ file, name: `envoy-${name}`, vars: LUA_VARS });
    s.bff.sessions.set(SID, { accessToken: "aaa.bbb.ccc", expiresIn: 300 });
  });

  it("swaps the cookie for the token and strips only the session cookie", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.url}/api/p?i=${i}`, {
        headers: { cookie: `x=1; ${COOKIE}="${SID}"; y=2` },
      });
      expect(res.status).toBe(200);
      const got = s.echo.requests.at(-1)!;
      expect(got.path).toBe(`/api/p?i=${i}`);
      expect(got.headers.authorization).toBe("Bearer aaa.bbb.ccc");
      expect(got.headers.cookie).toBe("x=1; y=2");
    }
    expect(s.bff.requests.length).toBe(name === "wasm" ? 1 : 3);
  });

  it("passes requests without the cookie or with their own authorization", async () => {
    await fetch(`${s.url}/free`);
    expect(s.echo.requests.at(-1)!.headers.authorization).toBeUndefined();
    await fetch(`${s.url}/m2m`, { headers: { authorization: "Bearer own", cookie: `${COOKIE}=${SID}` } });
    const got = s.echo.requests.at(-1)!;
    expect(got.headers.authorization).toBe("Bearer own");
    expect(got.headers.cookie).toBeUndefined();
  });

  it("answers 401 + clearing, 403 cross-site and 503 on BFF failure", async () => {
    const n = s.echo.requests.length;
    const r401 = await fetch(`${s.url}/api`, { headers: { cookie: `${COOKIE}=${"n".repeat(43)}` } });
    expect(r401.status).toBe(401);
    expect(await r401.json()).toEqual({ error: "no_session" });
    expect(r401.headers.get("set-cookie")).toBe(
      `${COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict`,
    );
    const r403 = await fetch(`${s.url}/api`, {
      method: "POST",
      body: "x",
      headers: { cookie: `${COOKIE}=${SID}`, "sec-fetch-site": "cross-site" },
    });
    expect(r403.status).toBe(403);
    s.bff.mode = "down";
    const r503 = await fetch(`${s.url}/api`, { headers: { cookie: `${COOKIE}=${"d".repeat(43)}` } });
    s.bff.mode = "ok";
    expect(r503.status).toBe(503);
    expect(s.echo.requests.length).toBe(n);
  });
});
