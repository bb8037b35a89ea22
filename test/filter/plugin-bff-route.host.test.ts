// A plugin-configuration app entry with "bff": true marks the app's BFF routes
// where routes carry no sessiongate metadata (Istio's WasmPlugin, Envoy Gateway):
// there the app's own session and login cookies reach the BFF untouched, every
// other sessiongate cookie is still dropped, and nothing is swapped. Without it
// the filter would drop the login cookie on the way to /auth/<app>/callback.
import { describe, expect, it } from "vitest";
import { HOST, host, req, SID, SID2 } from "./helpers.js";

const CFG = {
  bff_cluster: "bff",
  apps: [
    { id: "demo", hosts: [HOST], path_prefix: "/" },
    { id: "demo", hosts: [HOST], path_prefix: "/auth/demo", bff: true },
  ],
};
const COOKIES = `__Host-sg-demo=${SID}; __Host-sg-demo-login=state; __Host-sg-other=${SID2}; theme=dark`;

describe("plugin-configuration BFF entries (routes without metadata)", () => {
  it("on /auth/demo/callback the app's session and login cookies go on, another app's does not, no BFF call", async () => {
    const h = await host(JSON.stringify(CFG));
    const o = h.request(req([["cookie", COOKIES]], "GET", "/auth/demo/callback?code=x"));
    expect(o.state).toBe("continue");
    expect(h.pendingCalls.size).toBe(0);
    const forwarded = o.all("cookie").join("; ");
    expect(forwarded).toContain(`__Host-sg-demo=${SID}`);
    expect(forwarded).toContain("__Host-sg-demo-login=state");
    expect(forwarded).not.toContain("__Host-sg-other");
    expect(o.all("authorization")).toEqual([]);
  });

  it("invariant 6 still holds off the BFF prefix: /api and /auth/demox swap the cookie and forward none", async () => {
    for (const path of ["/api/x", "/auth/demox"]) {
      const h = await host(JSON.stringify(CFG));
      const o = h.request(req([["cookie", COOKIES]], "GET", path));
      expect(o.state, path).toBe("paused");
      expect(o.all("cookie"), path).toEqual(["theme=dark"]);
    }
  });

  it("bad input is refused and names the field: the same id twice without bff, a different cookie, a non-boolean", async () => {
    const twice = { apps: [{ id: "demo" }, { id: "demo", path_prefix: "/x" }] };
    const cookie = { apps: [{ id: "demo" }, { id: "demo", bff: true, cookie: "__Host-sg-x" }] };
    const notBool = { apps: [{ id: "demo", bff: "yes" }] };
    for (const [cfg, field] of [
      [twice, "field 'apps[1].id': duplicate"],
      [cookie, "field 'apps[1].cookie'"],
      [notBool, "field 'apps[0].bff'"],
    ] as const) {
      const h = await host(JSON.stringify(cfg));
      expect(h.configured).toBe(false);
      expect(
        h.logs.some((l) => l.level >= 4 && l.message.includes(field)),
        field,
      ).toBe(true);
    }
  });
});
