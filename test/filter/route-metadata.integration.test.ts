// Route metadata in a real Envoy 1.40 (V8): the filter reads its app from
// proxy_get_property(["xds","route_metadata","filter_metadata","sessiongate","app"])
// (a string leaf arrives as its bytes), falls back to the plugin's `apps`
// list on routes without it, and fails closed on malformed metadata.
import { beforeAll, describe, expect, it } from "vitest";
import { hostRequest, waitFor } from "../harness/index.js";
import { COOKIE, filterConfig, type Stack, startStack, wasmCounters } from "./envoy-fixture.js";

const SID = "r".repeat(43);
const portOf = (s: Stack) => Number(new URL(s.url).port);

describe("session-to-token with route metadata in Envoy", () => {
  let s: Stack;
  beforeAll(async () => {
    // The fallback app (route without metadata) is the fixture's "demo" on host "*".
    s = await startStack({
      file: "../test/filter/route-metadata.envoy.yaml",
      name: "envoy-route-md",
      config: filterConfig(),
    });
    s.bff.sessions.set(SID, { accessToken: "route.token.sig", expiresIn: 300 });
  });

  const get = (
    host: string,
    path: string,
    cookie: string,
    extra: Record<string, string> = {},
    method = "GET",
  ) => hostRequest(portOf(s), path, { host, ...(cookie ? { cookie } : {}), ...extra }, { method });

  it("takes the app id and cookie name from the route: swap, strip, app id sent to the BFF", async () => {
    const n = s.bff.requests.length;
    const r = await get("alpha.test", "/api/a", `x=1; __Host-sg-alpha=${SID}; ${COOKIE}=${SID}`);
    expect(r.status).toBe(200);
    const got = s.echo.requests.at(-1)!;
    expect(got.headers.authorization).toBe("Bearer route.token.sig");
    // Only the route's app cookie is the session cookie here; the fallback app's cookie is
    // not swapped, and as a sessiongate cookie it is not forwarded either (invariant 6).
    expect(got.headers.cookie).toBe("x=1");
    expect(s.bff.requests.length).toBe(n + 1);
    expect(s.bff.requests.at(-1)!.headers["x-sessiongate-app"]).toBe("alpha");
  });

  it("defaults the cookie to __Host-sg-<id> and enforces the route's origins", async () => {
    const ok = await get("beta.test", "/", `__Host-sg-beta=${SID}`);
    expect(ok.status).toBe(200);
    expect(s.bff.requests.at(-1)!.headers["x-sessiongate-app"]).toBe("beta");
    const csrf = await get(
      "alpha.test",
      "/api",
      `__Host-sg-alpha=${SID}`,
      { origin: "https://beta.test" },
      "POST",
    );
    expect(csrf.status).toBe(403);
    expect(JSON.parse(csrf.body)).toEqual({ error: "csrf_denied" });
  });

  it('on a BFF route ("bff": true) forwards only the app\'s own session and login cookies, untouched', async () => {
    const n = s.bff.requests.length;
    const r = await get(
      "alpha.test",
      "/auth/session",
      `__Host-sg-alpha=${SID}; __Host-sg-alpha-login=st; __Host-sg-beta=${SID}; ${COOKIE}=x; k=1`,
    );
    expect(r.status).toBe(200);
    expect(s.echo.requests.at(-1)!.headers.cookie).toBe(
      `__Host-sg-alpha=${SID}; __Host-sg-alpha-login=st; k=1`,
    );
    expect(s.echo.requests.at(-1)!.headers.authorization).toBeUndefined();
    expect(s.bff.requests.length).toBe(n);
  });

  it("leaves routes with the filter disabled alone", async () => {
    const n = s.bff.requests.length;
    const r = await get("alpha.test", "/public/x", `__Host-sg-alpha=${SID}`);
    expect(r.status).toBe(200);
    expect(s.echo.requests.at(-1)!.headers.cookie).toBe(`__Host-sg-alpha=${SID}`);
    expect(s.bff.requests.length).toBe(n);
  });

  it("falls back to the plugin's apps list on a route without metadata", async () => {
    const r = await get("other.test", "/x", `${COOKIE}=${SID}`);
    expect(r.status).toBe(200);
    expect(s.echo.requests.at(-1)!.headers.cookie).toBeUndefined();
    expect(s.echo.requests.at(-1)!.headers.authorization).toBe("Bearer route.token.sig");
  });

  it("fails closed on malformed metadata (bad field, non-string leaf): 503, nothing upstream, logged", async () => {
    const echoed = s.echo.requests.length;
    for (const host of ["broken.test", "numeric.test"]) {
      const r = await get(host, "/api", `${COOKIE}=${SID}; __Host-sg-broken=${SID}`);
      expect(r.status).toBe(503);
      expect(JSON.parse(r.body)).toEqual({ error: "session_service_unavailable" });
    }
    expect(s.echo.requests.length).toBe(echoed);
    expect((await wasmCounters(s.envoy)).bad_route_metadata).toBe(2);
    // Envoy writes its log asynchronously: wait for both lines rather than read once.
    const lines = [
      "invalid route metadata: field 'cookie': must be a cookie name",
      "invalid route metadata: field '(root)': not valid JSON",
    ];
    await waitFor(
      "both errors in Envoy's log",
      async () => lines.every((l) => s.envoy.proc.log().includes(l)),
      15_000,
      100,
    ).catch(() => undefined);
    for (const l of lines) expect(s.envoy.proc.log()).toContain(l);
    // No cookie at all: nothing to protect, left to what follows.
    expect((await get("broken.test", "/api", "")).status).toBe(200);
  });
});
