// invariant 9, oversize input: huge headers, a huge Cookie header, thousands of
// cookies, a huge return_to and a huge body, through Envoy (wasm filter in
// front of the real BFF and an echo upstream) and straight to the BFF: a clear
// 4xx (400 / 413 / 431), and every process still healthy afterwards.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { login, startTwoAppBff, type TwoAppBff } from "../bff/helpers.js";
import { ensureWasm } from "../filter/wasm-build.js";
import {
  type EchoHandle,
  type EnvoyHandle,
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
} from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { rawRequest } from "./raw-http.js";

const COOKIE = "__Host-sg-web";
let b: TwoAppBff;
let echo: EchoHandle;
let envoy: EnvoyHandle;
let edge: number;
let bffPort: number;
let session: string;

/** envoy/wasm-filter.yaml with /auth/ routed to the BFF's public port (the gateway's layout). */
function gatewayYaml(): string {
  return readFileSync(join(REPO_ROOT, "envoy/wasm-filter.yaml"), "utf8")
    .replace(
      '              - match: { prefix: "/" }\n',
      '              - match: { prefix: "/auth/" }\n                route: { cluster: bff_public }\n              - match: { prefix: "/" }\n',
    )
    .replace(
      "  clusters:\n",
      "  clusters:\n  - name: bff_public\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      cluster_name: bff_public\n      endpoints:\n      - lb_endpoints:\n        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: {{BFF_PUBLIC_PORT}} } } }\n",
    );
}

beforeAll(async () => {
  ensureWasm();
  b = await startTwoAppBff();
  bffPort = b.publicPort;
  session = (await login(b.publicUrl, b.op, "web")).session;
  echo = await startEcho();
  edge = await freePort();
  const yaml = gatewayYaml();
  expect(yaml).toContain("bff_public");
  envoy = await startEnvoy({
    yaml,
    name: "envoy-badinput-oversize",
    vars: {
      LISTEN_PORT: edge,
      ECHO_PORT: echo.port,
      BFF_PORT: Number(new URL(b.bff.internalUrl).port),
      BFF_PUBLIC_PORT: bffPort,
      FILTER_CONFIG: JSON.stringify({
        bff_cluster: "sessiongate_bff_internal",
        apps: [{ id: "web", hosts: ["*"], cookie: COOKIE }],
      }),
    },
  });
});

const cookies = (n: number, last = `${COOKIE}=${session}`) =>
  [...Array.from({ length: n }, (_, i) => `c${i}=v${i}`), last].join("; ");
const isClear4xx = (s: number) => [400, 413, 414, 431].includes(s);

describe("invariant 9: oversize input gives a clear 4xx, never a crash", () => {
  it("through Envoy: a 100 KB header, a 100 KB Cookie, 10,000 cookies, 200 headers, a 100 KB return_to -> 431; a 3 KB return_to -> 400 invalid_return_to; a 2 MB body -> 413", {
    timeout: budget(60_000),
  }, async () => {
    const cases: [string, () => ReturnType<typeof rawRequest>, number[]][] = [
      [
        "100 KB header",
        () =>
          rawRequest(edge, "GET", "/api", [
            ["host", "a"],
            ["x-big", "x".repeat(100_000)],
          ]),
        [431],
      ],
      [
        "100 KB Cookie",
        () =>
          rawRequest(edge, "GET", "/api", [
            ["host", "a"],
            ["cookie", `${COOKIE}=${"x".repeat(100_000)}`],
          ]),
        [431],
      ],
      [
        "10,000 cookies",
        () =>
          rawRequest(edge, "GET", "/api", [
            ["host", "a"],
            ["cookie", cookies(10_000)],
          ]),
        [431],
      ],
      [
        "200 headers",
        () =>
          rawRequest(edge, "GET", "/api", [
            ["host", "a"],
            ...Array.from({ length: 200 }, (_, i): [string, string] => [`x-h${i}`, "v"]),
          ]),
        [431],
      ],
      [
        "100 KB return_to",
        () => rawRequest(edge, "GET", `/auth/web/login?return_to=/${"a".repeat(100_000)}`, [["host", "a"]]),
        [431],
      ],
      [
        "3 KB return_to",
        () => rawRequest(edge, "GET", `/auth/web/login?return_to=/${"a".repeat(3000)}`, [["host", "a"]]),
        [400],
      ],
      [
        "2 MB body",
        () =>
          rawRequest(
            edge,
            "POST",
            "/auth/web/backchannel-logout",
            [
              ["host", "a"],
              ["content-type", "application/x-www-form-urlencoded"],
            ],
            { body: `logout_token=${"a".repeat(2_000_000)}` },
          ),
        [413],
      ],
    ];
    const got: string[] = [];
    for (const [name, send, want] of cases) {
      const before = echo.requests.length;
      const r = await send();
      if (!want.includes(r.status) || echo.requests.length !== before)
        got.push(`${name}: ${r.status} (upstream reached ${echo.requests.length - before})`);
      if (name === "3 KB return_to") expect(JSON.parse(r.body).error).toBe("invalid_return_to");
    }
    expect(got, JSON.stringify(got)).toEqual([]);
  });

  it("through Envoy: 1,000 cookies with the session cookie last still get the session's token, the cookie stripped", async () => {
    // About 11 KB: the echo upstream is a Node server, whose own header limit is 16 KB.
    const r = await rawRequest(edge, "GET", "/api/me", [
      ["host", "a"],
      ["cookie", cookies(1000)],
    ]);
    expect(r.status).toBe(200);
    const up = echo.requests.at(-1);
    expect(up?.headers.authorization).toMatch(/^Bearer ey/);
    expect(String(up?.headers.cookie)).not.toContain(COOKIE);
    expect(String(up?.headers.cookie).split("; ")).toHaveLength(1000);
  });

  it("straight to the BFF: a 100 KB header, a 20 KB Cookie, 5,000 cookies, a 20 KB return_to -> 400 JSON; a 2 MB body -> 413 JSON; 1,000 cookies still find the session", {
    timeout: budget(60_000),
  }, async () => {
    const cases: [string, () => ReturnType<typeof rawRequest>, number][] = [
      [
        "100 KB header",
        () =>
          rawRequest(bffPort, "GET", "/auth/web/session", [
            ["host", "a"],
            ["x-big", "x".repeat(100_000)],
          ]),
        400,
      ],
      [
        "20 KB Cookie",
        () =>
          rawRequest(bffPort, "GET", "/auth/web/session", [
            ["host", "a"],
            ["cookie", `${COOKIE}=${"x".repeat(20_000)}`],
          ]),
        400,
      ],
      [
        "5,000 cookies",
        () =>
          rawRequest(bffPort, "GET", "/auth/web/session", [
            ["host", "a"],
            ["cookie", cookies(5000)],
          ]),
        400,
      ],
      [
        "20 KB return_to",
        () => rawRequest(bffPort, "GET", `/auth/web/login?return_to=/${"a".repeat(20_000)}`, [["host", "a"]]),
        400,
      ],
      [
        "3 KB return_to",
        () => rawRequest(bffPort, "GET", `/auth/web/login?return_to=/${"a".repeat(3000)}`, [["host", "a"]]),
        400,
      ],
      [
        "2 MB body",
        () =>
          rawRequest(
            bffPort,
            "POST",
            "/auth/web/backchannel-logout",
            [
              ["host", "a"],
              ["content-type", "application/x-www-form-urlencoded"],
            ],
            { body: `logout_token=${"a".repeat(2_000_000)}` },
          ),
        413,
      ],
    ];
    const got: string[] = [];
    for (const [name, send, want] of cases) {
      const r = await send();
      let error: unknown;
      try {
        error = JSON.parse(r.body).error;
      } catch {
        error = undefined;
      }
      if (r.status !== want || !isClear4xx(r.status) || typeof error !== "string")
        got.push(`${name}: ${r.status} ${r.body.slice(0, 80)}`);
    }
    expect(got).toEqual([]);
    const many = await rawRequest(bffPort, "GET", "/auth/web/session", [
      ["host", "a"],
      ["cookie", cookies(1000)],
    ]);
    expect(many.status).toBe(200);
  });

  it("every process is still healthy afterwards: BFF, Envoy and the token path through both", async () => {
    expect((await fetch(`${b.bff.internalUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${envoy.adminUrl}/ready`)).status).toBe(200);
    const r = await rawRequest(edge, "GET", "/api/ok", [
      ["host", "a"],
      ["cookie", `${COOKIE}=${session}`],
    ]);
    expect(r.status).toBe(200);
    expect(echo.requests.at(-1)?.headers.authorization).toMatch(/^Bearer /);
  });
});
