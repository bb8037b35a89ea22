// Static (plugin-configuration) app matching equals the control plane's route
// matching, and no sessiongate cookie leaves the filter on any path (docs/architecture.md#invariant-6,
// across apps): three apps on one host as in the demo, `/`, `/mall`,
// `/tx`, each with its own session cookie in the reserved namespace.
import { describe, expect, it } from "vitest";
import { HOST, host, req, SID, SID2 } from "./helpers.js";

const APPS = {
  bff_cluster: "bff",
  apps: [
    { id: "demo", hosts: [HOST], path_prefix: "/" },
    { id: "mall", hosts: [HOST], path_prefix: "/mall" },
    { id: "tx", hosts: [HOST], path_prefix: "/tx/" },
  ],
};
const ALL = `__Host-sg-demo=${SID}; __Host-sg-mall=${SID2}; __Host-sg-tx=${SID}; __Host-sg-mall-login=state; theme=dark`;

async function appOf(path: string): Promise<string | undefined> {
  const h = await host(JSON.stringify(APPS));
  const o = h.request(req([["cookie", ALL]], "GET", path));
  return Object.fromEntries(o.call?.headers ?? [])["x-sessiongate-app"];
}

describe("static path matching = xDS matching (path_separated_prefix)", () => {
  it.each([
    ["/mall", "mall"],
    ["/mall/", "mall"],
    ["/mall/x/y", "mall"],
    ["/mall?q=1", "mall"],
    ["/mallory", "demo"],
    ["/mall.json", "demo"],
    ["/MALL/x", "demo"],
    ["/tx/a", "tx"],
    ["/tx", "demo"],
    ["/txt", "demo"],
    ["/", "demo"],
  ])("%s belongs to %s", async (path, app) => {
    expect(await appOf(path)).toBe(app);
  });

  it("/apiary is not under /api", async () => {
    const h = await host(JSON.stringify({ bff_cluster: "bff", apps: [{ id: "api", path_prefix: "/api" }] }));
    const o = h.request(req([["cookie", `__Host-sg-api=${SID}`]], "GET", "/apiary"));
    expect(o.state).toBe("continue");
    expect(h.pendingCalls.size).toBe(0);
    // No app matched, and the cookie still did not go upstream.
    expect(o.all("cookie")).toEqual([]);
  });
});

describe("static mode names the app upstream (x-sessiongate-app), as the xds-server's routes do", () => {
  it.each([
    ["/mall/x", [["cookie", `theme=dark`]], "mall"],
    ["/tx/a", [], "tx"],
    ["/", [["authorization", "Bearer machine"]], "demo"],
  ] as [string, [string, string][], string][])(
    "%s with %j: x-sessiongate-app %s, the client's value overwritten",
    async (path, headers, app) => {
      const h = await host(JSON.stringify(APPS));
      const o = h.request(req([...headers, ["x-sessiongate-app", "evil"]], "GET", path));
      expect(o.state).toBe("continue");
      expect(o.all("x-sessiongate-app")).toEqual([app]);
    },
  );

  it("no app matched: a client's x-sessiongate-app is removed", async () => {
    const h = await host(JSON.stringify({ bff_cluster: "bff", apps: [{ id: "api", path_prefix: "/api" }] }));
    const o = h.request(req([["x-sessiongate-app", "api"]], "GET", "/apiary"));
    expect(o.state).toBe("continue");
    expect(o.all("x-sessiongate-app")).toEqual([]);
  });

  it("with route metadata (the xds-server's mode) the route sets it, not the filter", async () => {
    const h = await host(JSON.stringify({ bff_cluster: "bff", apps: [] }));
    const o = h.request(req([["x-sessiongate-app", "from-route"]], "GET", "/x"), {
      routeMetadata: { sessiongate: { app: JSON.stringify({ id: "shop" }) } },
    });
    expect(o.all("x-sessiongate-app")).toEqual(["from-route"]);
  });
});

describe("invariant 6: no sessiongate cookie reaches an upstream, across apps", () => {
  it.each(["/", "/mall/x", "/tx/a", "/mallory", "/API/x"])(
    "a request to %s forwards no __Host-sg-* cookie, only the others",
    async (path) => {
      const h = await host(JSON.stringify(APPS));
      const o = h.request(req([["cookie", ALL]], "GET", path));
      expect(o.state).toBe("paused");
      expect(o.all("cookie")).toEqual(["theme=dark"]);
    },
  );

  it("a request on another host (no app) loses every sessiongate cookie", async () => {
    const h = await host(JSON.stringify(APPS));
    const o = h.request([
      [":method", "GET"],
      [":path", "/mall/x"],
      [":authority", "elsewhere.example"],
      ["cookie", ALL],
    ]);
    expect(o.state).toBe("continue");
    expect(o.all("cookie")).toEqual(["theme=dark"]);
  });

  it("one app's cookie never stands in for another's: /mall asks only for mall's session", async () => {
    const h = await host(JSON.stringify(APPS));
    const o = h.request(req([["cookie", `__Host-sg-demo=${SID}`]], "GET", "/mall/x"));
    expect(o.state).toBe("continue");
    expect(h.pendingCalls.size).toBe(0);
    expect(o.all("cookie")).toEqual([]);
  });
});
