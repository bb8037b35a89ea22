// Static (plugin-configuration) mode in a real Envoy 1.40 with envoy/wasm-filter.yaml:
// the filter matches path_prefix like the control plane's routes do, the shipped
// HCM normalises paths first, no sessiongate cookie reaches the upstream whatever
// the spelling of the path (docs/architecture.md#invariant-6), and an underscore twin of a
// header is refused before any filter or upstream sees it.
import { beforeAll, describe, expect, it } from "vitest";
import { rawRequest } from "../badinput/raw-http.js";
import { type Stack, startStack } from "./envoy-fixture.js";

const SID = "s".repeat(43);
const COOKIES = `__Host-sg-api=${SID}; __Host-sg-shop=${"o".repeat(43)}; __Host-sg-api-login=st; keep=1`;

describe("static config in Envoy: path matching = xDS matching, invariant 6", () => {
  let s: Stack;
  let port: number;
  beforeAll(async () => {
    s = await startStack({
      name: "envoy-static-match",
      config: JSON.stringify({
        bff_cluster: "sessiongate_bff_internal",
        bff_timeout_ms: 2000,
        apps: [{ id: "api", path_prefix: "/api", allowed_origins: ["https://app.test"] }],
      }),
    });
    port = Number(new URL(s.url).port);
    s.bff.sessions.set(SID, { accessToken: "api.token.sig", expiresIn: 300 });
  });

  const send = (path: string, headers: [string, string][] = [["cookie", COOKIES]]) =>
    rawRequest(port, "GET", path, [["host", "app.test"], ...headers]);

  it.each([
    ["/api/x", "/api/x", true],
    ["/api", "/api", true],
    ["//api//x", "/api/x", true],
    ["/x/../api/x", "/api/x", true],
    ["/apiary", "/apiary", false],
    ["/API/x", "/API/x", false],
    ["/%61pi/x", null, null],
  ] as [string, string | null, boolean | null][])(
    "%s: upstream path %s, swapped %s, and no __Host-sg-* cookie upstream",
    async (path, upstreamPath, swapped) => {
      const before = s.echo.requests.length;
      const r = await send(path);
      expect(r.status).toBe(200);
      const got = s.echo.requests.at(-1)!;
      expect(s.echo.requests.length).toBe(before + 1);
      if (upstreamPath !== null) expect(got.path).toBe(upstreamPath);
      // Whatever Envoy made of the spelling, the app is the one its path is under, as xDS routes decide.
      const under = got.path === "/api" || got.path.startsWith("/api/");
      if (swapped !== null) expect(under).toBe(swapped);
      expect(got.headers.authorization).toBe(under ? "Bearer api.token.sig" : undefined);
      expect(got.headers.cookie).toBe("keep=1");
    },
  );

  // The xds-server's routes set x-sessiongate-app (test/xds/gateway.e2e.test.ts); in a
  // static config the filter does, so an upstream can trust it in both modes.
  it.each([
    ["/api/x", [["cookie", COOKIES]], "api"],
    ["/api/x", [], "api"],
    ["/apiary", [["cookie", COOKIES]], undefined],
    ["/other", [], undefined],
  ] as [string, [string, string][], string | undefined][])(
    "%s (%j): x-sessiongate-app upstream is %s, whatever the client sent",
    async (path, headers, app) => {
      const r = await send(path, [...headers, ["x-sessiongate-app", "evil"]]);
      expect(r.status).toBe(200);
      expect(s.echo.requests.at(-1)!.headers["x-sessiongate-app"]).toBe(app);
    },
  );

  it("refuses an underscore twin of a header (x_user_sub) with 400; nothing reaches the upstream", async () => {
    const before = s.echo.requests.length;
    const r = await send("/api/x", [
      ["cookie", COOKIES],
      ["x_user_sub", "admin"],
    ]);
    expect(r.status).toBe(400);
    expect(s.echo.requests.length).toBe(before);
  });
});
