// The registration API refuses malformed and unauthenticated calls with the
// right gRPC code (and names the field), and a refused call changes nothing.
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "./helpers.js";

const S = grpc.status;

type Spec = ReturnType<typeof baseSpec>;
const mod = (f: (s: Spec) => void, id = "fresh") => {
  const s = structuredClone(baseSpec(id));
  f(s);
  return s;
};
const set = (path: string, value: unknown, id = "fresh") =>
  mod((s) => {
    const keys = path.split(".");
    let o = s as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) o = o[k] as Record<string, unknown>;
    if (value === undefined) delete o[keys.at(-1)!];
    else o[keys.at(-1)!] = value;
  }, id);

let srv: RunningServer;
let ok: Client;
let rev = 0n;

beforeAll(async () => {
  srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
  ok = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
  const a = await ok.unary<unknown, { revision: bigint }>("createApp", { app: baseSpec("base") }, 5000);
  rev = a.revision;
  await ok.unary("createApp", { app: baseSpec("other") }, 5000);
});

afterAll(async () => {
  ok?.close();
  await srv?.stop();
});

interface Case {
  name: string;
  method: string;
  req: unknown;
  code: grpc.status;
  token?: string | null;
  field?: string;
}

const cases: Case[] = [
  // --- authentication (every method) ---
  {
    name: "create without token",
    method: "createApp",
    req: { app: baseSpec("n1") },
    code: S.UNAUTHENTICATED,
    token: null,
  },
  {
    name: "create with wrong token",
    method: "createApp",
    req: { app: baseSpec("n1") },
    code: S.UNAUTHENTICATED,
    token: "wrong-token-0123456789",
  },
  {
    name: "create with token prefix",
    method: "createApp",
    req: { app: baseSpec("n1") },
    code: S.UNAUTHENTICATED,
    token: TOKEN.slice(0, -1),
  },
  {
    name: "create with token + suffix",
    method: "createApp",
    req: { app: baseSpec("n1") },
    code: S.UNAUTHENTICATED,
    token: `${TOKEN}x`,
  },
  {
    name: "update without token",
    method: "updateApp",
    req: { app: baseSpec("base"), revision: 1n },
    code: S.UNAUTHENTICATED,
    token: null,
  },
  {
    name: "delete with wrong token",
    method: "deleteApp",
    req: { id: "base" },
    code: S.UNAUTHENTICATED,
    token: "x".repeat(40),
  },
  { name: "get without token", method: "getApp", req: { id: "base" }, code: S.UNAUTHENTICATED, token: null },
  { name: "list with empty token", method: "listApps", req: {}, code: S.UNAUTHENTICATED, token: "" },
  // --- INVALID_ARGUMENT, naming the field ---
  { name: "no app", method: "createApp", req: {}, code: S.INVALID_ARGUMENT, field: "app" },
  {
    name: "empty id",
    method: "createApp",
    req: { app: set("id", "") },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  {
    name: "uppercase id",
    method: "createApp",
    req: { app: set("id", "Shop") },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  {
    name: "id with underscore",
    method: "createApp",
    req: { app: set("id", "a_b") },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  {
    name: "id too long",
    method: "createApp",
    req: { app: set("id", "a".repeat(64)) },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  {
    name: "no hosts",
    method: "createApp",
    req: { app: set("hosts", []) },
    code: S.INVALID_ARGUMENT,
    field: "hosts",
  },
  {
    name: "host with space",
    method: "createApp",
    req: { app: set("hosts", ["bad host"]) },
    code: S.INVALID_ARGUMENT,
    field: "hosts[0]",
  },
  {
    name: "host empty label",
    method: "createApp",
    req: { app: set("hosts", ["a..b"]) },
    code: S.INVALID_ARGUMENT,
    field: "hosts[0]",
  },
  {
    name: "host port out of range",
    method: "createApp",
    req: { app: set("hosts", ["a.test:99999"]) },
    code: S.INVALID_ARGUMENT,
    field: "hosts[0]",
  },
  {
    name: "duplicate hosts",
    method: "createApp",
    req: { app: set("hosts", ["a.test", "A.test"]) },
    code: S.INVALID_ARGUMENT,
    field: "hosts[1]",
  },
  {
    name: "prefix without slash",
    method: "createApp",
    req: { app: set("pathPrefix", "api") },
    code: S.INVALID_ARGUMENT,
    field: "path_prefix",
  },
  {
    name: "prefix with ..",
    method: "createApp",
    req: { app: set("pathPrefix", "/a/../b") },
    code: S.INVALID_ARGUMENT,
    field: "path_prefix",
  },
  {
    name: "prefix with trailing slash",
    method: "createApp",
    req: { app: set("pathPrefix", "/a/") },
    code: S.INVALID_ARGUMENT,
    field: "path_prefix",
  },
  {
    name: "prefix with //",
    method: "createApp",
    req: { app: set("pathPrefix", "//a") },
    code: S.INVALID_ARGUMENT,
    field: "path_prefix",
  },
  {
    name: "prefix with space",
    method: "createApp",
    req: { app: set("pathPrefix", "/a b") },
    code: S.INVALID_ARGUMENT,
    field: "path_prefix",
  },
  {
    name: "no oidc",
    method: "createApp",
    req: { app: set("oidc", undefined) },
    code: S.INVALID_ARGUMENT,
    field: "oidc",
  },
  {
    name: "issuer not a URL",
    method: "createApp",
    req: { app: set("oidc.issuer", "not a url") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.issuer",
  },
  {
    name: "issuer plain http",
    method: "createApp",
    req: { app: set("oidc.issuer", "http://op.example.com") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.issuer",
  },
  {
    name: "issuer with credentials",
    method: "createApp",
    req: { app: set("oidc.issuer", "https://u:p@op.test") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.issuer",
  },
  {
    name: "no client id",
    method: "createApp",
    req: { app: set("oidc.clientId", "") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.client_id",
  },
  {
    name: "no client secret on create",
    method: "createApp",
    req: { app: set("oidc.clientSecret", "") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.client_secret",
  },
  {
    name: "client secret with newline",
    method: "createApp",
    req: { app: set("oidc.clientSecret", "a\nb") },
    code: S.INVALID_ARGUMENT,
    field: "oidc.client_secret",
  },
  {
    name: "scopes without openid",
    method: "createApp",
    req: { app: set("oidc.scopes", ["profile"]) },
    code: S.INVALID_ARGUMENT,
    field: "oidc.scopes",
  },
  {
    name: "scope with space",
    method: "createApp",
    req: { app: set("oidc.scopes", ["openid", "a b"]) },
    code: S.INVALID_ARGUMENT,
    field: "oidc.scopes[1]",
  },
  {
    name: "unknown session mode",
    method: "createApp",
    req: { app: set("session.mode", "cookie") },
    code: S.INVALID_ARGUMENT,
    field: "session.mode",
  },
  {
    name: "cookie name with ;",
    method: "createApp",
    req: { app: set("session", { mode: "bff", cookieName: "a;b" }) },
    code: S.INVALID_ARGUMENT,
    field: "session.cookie_name",
  },
  {
    name: "cookie name outside the __Host-sg- namespace (the BFF would refuse it)",
    method: "createApp",
    req: { app: set("session", { mode: "bff", cookieName: "sid" }) },
    code: S.INVALID_ARGUMENT,
    field: "session.cookie_name",
  },
  {
    name: "cookie name colliding with a login cookie",
    method: "createApp",
    req: { app: set("session", { mode: "bff", cookieName: "__Host-sg-web-login" }) },
    code: S.INVALID_ARGUMENT,
    field: "session.cookie_name",
  },
  {
    name: "app id ending in '-' (the BFF would refuse it)",
    method: "createApp",
    req: { app: set("id", "web-", "web-") },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  {
    name: "allowed origin with path",
    method: "createApp",
    req: { app: set("session", { mode: "bff", allowedOrigins: ["https://a.test/x"] }) },
    code: S.INVALID_ARGUMENT,
    field: "session.allowed_origins[0]",
  },
  {
    name: "no upstreams",
    method: "createApp",
    req: { app: set("upstreams", []) },
    code: S.INVALID_ARGUMENT,
    field: "upstreams",
  },
  {
    name: "upstream without port",
    method: "createApp",
    req: { app: set("upstreams", ["127.0.0.1"]) },
    code: S.INVALID_ARGUMENT,
    field: "upstreams[0]",
  },
  {
    name: "upstream port 0",
    method: "createApp",
    req: { app: set("upstreams", ["127.0.0.1:0"]) },
    code: S.INVALID_ARGUMENT,
    field: "upstreams[0]",
  },
  {
    name: "upstream bad host",
    method: "createApp",
    req: { app: set("upstreams", ["bad_host!:80"]) },
    code: S.INVALID_ARGUMENT,
    field: "upstreams[0]",
  },
  {
    name: "duplicate upstreams",
    method: "createApp",
    req: { app: set("upstreams", ["127.0.0.1:1", "127.0.0.1:1"]) },
    code: S.INVALID_ARGUMENT,
    field: "upstreams[1]",
  },
  {
    name: "no jwt",
    method: "createApp",
    req: { app: set("jwt", undefined) },
    code: S.INVALID_ARGUMENT,
    field: "jwt",
  },
  {
    name: "no jwt issuer",
    method: "createApp",
    req: { app: set("jwt.issuer", "") },
    code: S.INVALID_ARGUMENT,
    field: "jwt.issuer",
  },
  {
    name: "no audiences",
    method: "createApp",
    req: { app: set("jwt.audiences", []) },
    code: S.INVALID_ARGUMENT,
    field: "jwt.audiences",
  },
  {
    name: "jwks uri ftp",
    method: "createApp",
    req: { app: set("jwt.remoteJwksUri", "ftp://op.test/jwks") },
    code: S.INVALID_ARGUMENT,
    field: "jwt.remote_jwks_uri",
  },
  {
    name: "claim header authorization",
    method: "createApp",
    req: { app: set("jwt.claimHeaders", [{ claim: "sub", header: "authorization" }]) },
    code: S.INVALID_ARGUMENT,
    field: "jwt.claim_headers[0].header",
  },
  {
    name: "claim header invalid",
    method: "createApp",
    req: { app: set("jwt.claimHeaders", [{ claim: "sub", header: "x user" }]) },
    code: S.INVALID_ARGUMENT,
    field: "jwt.claim_headers[0].header",
  },
  {
    name: "claim name invalid",
    method: "createApp",
    req: { app: set("jwt.claimHeaders", [{ claim: "a b", header: "x-a" }]) },
    code: S.INVALID_ARGUMENT,
    field: "jwt.claim_headers[0].claim",
  },
  {
    name: "jwks cache too long",
    method: "createApp",
    req: { app: set("jwt.jwksCacheDurationS", 100000) },
    code: S.INVALID_ARGUMENT,
    field: "jwt.jwks_cache_duration_s",
  },
  {
    name: "ext_authz target bad",
    method: "createApp",
    req: { app: set("extAuthz", { target: "nohostport" }) },
    code: S.INVALID_ARGUMENT,
    field: "ext_authz.target",
  },
  {
    name: "ext_authz fail mode",
    method: "createApp",
    req: { app: set("extAuthz", { target: "127.0.0.1:9000", failMode: "maybe" }) },
    code: S.INVALID_ARGUMENT,
    field: "ext_authz.fail_mode",
  },
  {
    name: "ext_authz timeout",
    method: "createApp",
    req: { app: set("extAuthz", { target: "127.0.0.1:9000", timeoutMs: 600000 }) },
    code: S.INVALID_ARGUMENT,
    field: "ext_authz.timeout_ms",
  },
  {
    name: "sidecar port 0",
    method: "createApp",
    req: { app: set("sidecar", { service: "svc", inboundPort: 0 }) },
    code: S.INVALID_ARGUMENT,
    field: "sidecar.inbound_port",
  },
  {
    name: "sidecar service bad",
    method: "createApp",
    req: { app: set("sidecar", { service: "a b", inboundPort: 80 }) },
    code: S.INVALID_ARGUMENT,
    field: "sidecar.service",
  },
  {
    name: "update without revision",
    method: "updateApp",
    req: { app: baseSpec("base") },
    code: S.INVALID_ARGUMENT,
    field: "revision",
  },
  {
    name: "update invalid spec",
    method: "updateApp",
    req: { app: set("upstreams", [], "base"), revision: 1n },
    code: S.INVALID_ARGUMENT,
    field: "upstreams",
  },
  {
    name: "get path-like id",
    method: "getApp",
    req: { id: "../base" },
    code: S.INVALID_ARGUMENT,
    field: "id",
  },
  { name: "delete empty id", method: "deleteApp", req: { id: "" }, code: S.INVALID_ARGUMENT, field: "id" },
  // --- conflicts ---
  {
    name: "create duplicate id",
    method: "createApp",
    req: { app: mod((s) => Object.assign(s, { hosts: ["elsewhere.test"] }), "base") },
    code: S.ALREADY_EXISTS,
  },
  {
    name: "create same host+prefix",
    method: "createApp",
    req: { app: mod((s) => Object.assign(s, { hosts: ["base.test"] }), "dup") },
    code: S.FAILED_PRECONDITION,
    field: "hosts",
  },
  {
    name: "update stale revision",
    method: "updateApp",
    req: { app: set("upstreams", ["127.0.0.1:9"], "base"), revision: 999n },
    code: S.FAILED_PRECONDITION,
    field: "revision",
  },
  {
    name: "update onto other's host",
    method: "updateApp",
    req: { app: mod((s) => Object.assign(s, { hosts: ["other.test"] }), "base"), revision: -1n },
    code: S.FAILED_PRECONDITION,
    field: "hosts",
  },
  {
    name: "delete at wrong revision",
    method: "deleteApp",
    req: { id: "base", revision: 999n },
    code: S.FAILED_PRECONDITION,
    field: "revision",
  },
  {
    name: "prefix onto another app's BFF routes",
    method: "createApp",
    req: { app: mod((s) => Object.assign(s, { hosts: ["base.test"], pathPrefix: "/auth" }), "thief") },
    code: S.FAILED_PRECONDITION,
    field: "hosts",
  },
  // --- not found ---
  { name: "get missing", method: "getApp", req: { id: "nope" }, code: S.NOT_FOUND },
  {
    name: "update missing",
    method: "updateApp",
    req: { app: baseSpec("nope"), revision: 1n },
    code: S.NOT_FOUND,
  },
  { name: "delete missing", method: "deleteApp", req: { id: "nope" }, code: S.NOT_FOUND },
];

describe("registration API refusals", () => {
  it("has at least 40 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)("$name -> $code", async (c) => {
    const before = JSON.stringify(await ok.unary("listApps", {}, 5000), (_k, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    const client = c.token === undefined ? ok : connect(`127.0.0.1:${srv.apiPort}`, c.token ?? "");
    const req = c.req as { revision?: bigint };
    if (req.revision === -1n) req.revision = rev;
    const err = await client.unary(c.method, c.req, 5000).then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    if (client !== ok) client.close();
    expect(err, "call must fail").not.toBeNull();
    expect(grpc.status[err!.code]).toBe(grpc.status[c.code]);
    if (c.field)
      expect(err!.details.startsWith(`${c.field}:`) || err!.details.startsWith(`${c.field} `)).toBe(true);
    // Secrets never echo back in an error.
    expect(err!.details).not.toContain("s3cr3t-value");
    const after = JSON.stringify(await ok.unary("listApps", {}, 5000), (_k, v) =>
      typeof v === "bigint" ? String(v) : v,
    );
    expect(after).toBe(before);
  });

  it("watch without a token is refused", async () => {
    const c = connect(`127.0.0.1:${srv.apiPort}`, "");
    const code = await new Promise<number>((resolve) => {
      const s = c.raw.watchApps({}, c.metadata());
      s.on("error", (e: grpc.ServiceError) => resolve(e.code));
      s.on("data", () => resolve(-1));
    });
    c.close();
    expect(code).toBe(S.UNAUTHENTICATED);
  });

  it("get never returns the secret; an update with an empty secret keeps it", async () => {
    const a = await ok.unary<
      unknown,
      { spec: { oidc: { clientSecret: string; clientSecretStatus: string } }; revision: bigint }
    >("getApp", { id: "base" }, 5000);
    expect(a.spec.oidc.clientSecret).toBe("");
    expect(a.spec.oidc.clientSecretStatus).toMatch(/^set \(sha256:[0-9a-f]{8}\)$/);
    const u = await ok.unary<unknown, typeof a>(
      "updateApp",
      { app: set("oidc.clientSecret", "", "base"), revision: a.revision },
      5000,
    );
    expect(u.spec.oidc.clientSecretStatus).toBe(a.spec.oidc.clientSecretStatus);
    expect(u.revision).toBeGreaterThan(a.revision);
    // Kept, and sealed: the store only ever holds ciphertext.
    const stored = srv.store.snapshot().apps.find((x) => x.spec.id === "base")?.clientSecret;
    expect(stored).toMatch(/^sgenc1:/);
    expect(stored).not.toContain("s3cr3t-value");
  });

  it("watch streams ADDED, MODIFIED and DELETED", async () => {
    const events: string[] = [];
    const s = ok.raw.watchApps({ initial: true }, ok.metadata());
    s.on("data", (e: { type: string; id: string }) => events.push(`${e.type}:${e.id}`));
    s.on("error", () => {});
    await expect.poll(() => events.length).toBeGreaterThanOrEqual(2);
    await ok.unary("createApp", { app: baseSpec("watched") }, 5000);
    const g = await ok.unary<unknown, { revision: bigint }>("getApp", { id: "watched" }, 5000);
    await ok.unary(
      "updateApp",
      { app: set("upstreams", ["127.0.0.1:7"], "watched"), revision: g.revision },
      5000,
    );
    await ok.unary("deleteApp", { id: "watched" }, 5000);
    await expect
      .poll(() => events.filter((e) => e.endsWith(":watched")))
      .toEqual(["ADDED:watched", "MODIFIED:watched", "DELETED:watched"]);
    expect(events).toContain("ADDED:base");
    s.cancel();
  });
});
