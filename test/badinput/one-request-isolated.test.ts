// One request must not break another's: a refused, oversize body on a BFF route
// (a ~300 KB POST to /auth/<app>/backchannel-logout) is answered and its
// connection closed or drained in the BFF's server, so the Envoy->BFF
// connection it used is not handed to the next user's request with the rest of
// the body still unread. Before, that next request was parsed as body bytes,
// hung for the route timeout and got 504. Here, through Envoy: oversize POSTs
// interleaved with 8 parallel users' login, session and logout flows; every
// user request succeeds.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { setCookies, startTwoAppBff, type TwoAppBff } from "../bff/helpers.js";
import { ensureWasm } from "../filter/wasm-build.js";
import { freePort, OpBrowser, REPO_ROOT, startEcho, startEnvoy } from "../harness/index.js";

let b: TwoAppBff;
let edge: string;

/**
 * envoy/wasm-filter.yaml with /auth/ routed to the BFF's public port, the filter
 * off there (the gateway's layout: the BFF reads its own cookies).
 */
function gatewayYaml(): string {
  return readFileSync(join(REPO_ROOT, "envoy/wasm-filter.yaml"), "utf8")
    .replace(
      '              - match: { prefix: "/" }\n',
      '              - match: { prefix: "/auth/" }\n                route: { cluster: bff_public }\n                typed_per_filter_config:\n                  envoy.filters.http.wasm: { "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true }\n              - match: { prefix: "/" }\n',
    )
    .replace(
      "  clusters:\n",
      "  clusters:\n  - name: bff_public\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      cluster_name: bff_public\n      endpoints:\n      - lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{BFF_PUBLIC_PORT}} } } }\n",
    );
}

beforeAll(async () => {
  ensureWasm();
  b = await startTwoAppBff();
  const echo = await startEcho();
  const port = await freePort();
  const yaml = gatewayYaml();
  expect(yaml).toContain("bff_public");
  await startEnvoy({
    yaml,
    name: "envoy-one-request-isolated",
    // One worker: every request to the BFF shares one small connection pool.
    concurrency: 1,
    vars: {
      LISTEN_PORT: port,
      ECHO_PORT: echo.port,
      BFF_PORT: Number(new URL(b.bff.internalUrl).port),
      BFF_PUBLIC_PORT: b.publicPort,
      FILTER_CONFIG: JSON.stringify({ bff_cluster: "sessiongate_bff_internal", apps: [{ id: "web" }] }),
    },
  });
  edge = `http://127.0.0.1:${port}`;
});

const viaEdge = (u: string) => {
  const url = new URL(u);
  return `${edge}${url.pathname}${url.search}`;
};

/** One user's login, session and logout, every BFF request through Envoy; returns each answer's status. */
async function userFlow(user: string, password: string): Promise<number[]> {
  const statuses: number[] = [];
  const start = await fetch(`${edge}/auth/web/login`, { redirect: "manual" });
  statuses.push(start.status);
  const loginCookie = setCookies(start).get("__Host-sg-web-login")?.value ?? "";
  const callbackUrl = await new OpBrowser(b.op.issuer).login(start.headers.get("location") ?? "", {
    username: user,
    password,
  });
  const cb = await fetch(viaEdge(callbackUrl), {
    redirect: "manual",
    headers: { cookie: `__Host-sg-web-login=${loginCookie}` },
  });
  statuses.push(cb.status);
  const sid = setCookies(cb).get("__Host-sg-web")?.value ?? "";
  for (let i = 0; i < 3; i++) {
    const s = await fetch(`${edge}/auth/web/session`, { headers: { cookie: `__Host-sg-web=${sid}` } });
    await s.text();
    statuses.push(s.status);
  }
  const out = await fetch(`${edge}/auth/web/logout`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: `__Host-sg-web=${sid}`, origin: b.publicUrl, "sec-fetch-site": "same-origin" },
  });
  statuses.push(out.status);
  const after = await fetch(`${edge}/auth/web/session`, { headers: { cookie: `__Host-sg-web=${sid}` } });
  await after.text();
  statuses.push(after.status);
  return statuses;
}

async function oversizePost(): Promise<number> {
  const res = await fetch(`${edge}/auth/web/backchannel-logout`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: `logout_token=${"x".repeat(300_000)}`,
  }).catch(() => null);
  await res?.text().catch(() => "");
  return res?.status ?? 0;
}

describe("one request must not break another's (oversize bodies on BFF routes)", () => {
  it("8 parallel users' login/session/logout all succeed while 300 KB POSTs are refused in between", async () => {
    const users = Array.from({ length: 8 }, (_, i) =>
      i % 2 ? userFlow("bob", "builder") : userFlow("alice", "wonderland"),
    );
    const attacks = Promise.all(
      Array.from({ length: 8 }, async () => {
        const got: number[] = [];
        for (let i = 0; i < 3; i++) got.push(await oversizePost());
        return got;
      }),
    );
    const flows = await Promise.all(users);
    for (const statuses of flows) expect(statuses).toEqual([302, 200, 200, 200, 200, 303, 401]);
    // The oversize requests themselves get a clear 413.
    expect((await attacks).flat().every((s) => s === 413)).toBe(true);
    // And afterwards, the pool still serves.
    expect(await userFlow("alice", "wonderland")).toEqual([302, 200, 200, 200, 200, 303, 401]);
  }, 120_000);
});
