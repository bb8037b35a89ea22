// protos/sessiongate/v1/app.schema.json (the JSON Schema of the file
// `sessiongate apps register -f` reads) agrees with what the CLI and the
// xds-server do: its fields are exactly AppSpec's (proto names, all levels),
// every valid vector passes both the schema and the validator, and every
// invalid vector is refused by both. Also: the buf module lints clean.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type DescMessage, fromJson } from "@bufbuild/protobuf";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AppSpecSchema } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { REPO_ROOT } from "../harness/envoy.js";

const schema = JSON.parse(readFileSync(join(REPO_ROOT, "protos/sessiongate/v1/app.schema.json"), "utf8"));
const check = new Ajv({ strict: false, allErrors: true }).compile(schema);

type Doc = Record<string, unknown>;

/** What the CLI does with the file, then the server's validator; the error, or null. */
function serverSays(doc: Doc): string | null {
  try {
    validateApp(fromJson(AppSpecSchema, doc as never) as unknown as RawAppSpec);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const schemaSays = (doc: Doc) => (check(doc) ? null : JSON.stringify(check.errors?.slice(0, 3)));

const base = (): Doc => parse(readFileSync(join(REPO_ROOT, "examples/apps/shop.yaml"), "utf8"));

function withField(path: string, value: unknown): Doc {
  const doc = base();
  const keys = path.split(".");
  let o = doc as Doc;
  for (const k of keys.slice(0, -1)) {
    o[k] ??= {};
    o = o[k] as Doc;
  }
  o[keys.at(-1)!] = value;
  return doc;
}

const VALID: [string, Doc][] = [
  ["examples/apps/shop.yaml", base()],
  [
    "every optional section",
    {
      ...base(),
      path_prefix: "/shop",
      public_paths: ["/shop/assets/*"],
      session: {
        mode: "tokenExchange",
        cookie_name: "__Host-sg-shop2",
        allowed_origins: ["http://localhost:8080"],
      },
      ext_authz: { target: "pdp.internal:9191", timeout_ms: 500, fail_mode: "open" },
      sidecar: { service: "shop", inbound_port: 8080 },
      jwt: {
        issuer: "https://idp.example.com",
        audiences: ["a", "b"],
        remote_jwks_uri: "https://idp.example.com/jwks",
        jwks_cache_duration_s: 600,
        claim_headers: [{ claim: "email", header: "x-user-email" }],
      },
      oidc: { ...(base().oidc as Doc), auth_params: { audience: "https://api" }, scopes: ["openid"] },
    },
  ],
  ["the demo app (test/demo/demo-app.yaml, placeholders filled)", demoApp()],
];

function demoApp(): Doc {
  const text = readFileSync(join(REPO_ROOT, "test/demo/demo-app.yaml"), "utf8")
    .replaceAll("{{APP_ID}}", "demo")
    .replaceAll("{{HOST}}", "localhost:8080")
    .replaceAll("{{UPSTREAM_PORT}}", "9000")
    .replaceAll("{{AUDIENCE}}", "https://api")
    .replaceAll("{{JWKS_URI}}", "http://127.0.0.1:9001/jwks")
    .replace(/\{\{[A-Z_]+\}\}/g, (m) => (m.includes("ISSUER") ? "http://127.0.0.1:9001" : "x"));
  return parse(text);
}

const INVALID: [string, Doc][] = [
  ["id with a capital", withField("id", "Shop")],
  ["id too long", withField("id", "a".repeat(64))],
  ["no hosts", withField("hosts", [])],
  ["path_prefix with a trailing slash", withField("path_prefix", "/shop/")],
  ["path_prefix with ..", withField("path_prefix", "/a/../b")],
  ["path_prefix with //", withField("path_prefix", "/a//b")],
  ["path_prefix without /", withField("path_prefix", "shop")],
  ["scopes without openid", withField("oidc.scopes", ["profile"])],
  ["a reserved auth param", withField("oidc.auth_params", { state: "x" })],
  ["public_origin with a path", withField("oidc.public_origin", "https://shop.example.com/app")],
  ["unknown mode", withField("session.mode", "cookie")],
  ["cookie outside the namespace", withField("session.cookie_name", "sid")],
  ["cookie ending in -login", withField("session.cookie_name", "__Host-sg-shop-login")],
  ["allowed origin with a path", withField("session.allowed_origins", ["https://a.example/x"])],
  ["upstream without a port", withField("upstreams", ["shop.internal"])],
  ["no audiences", withField("jwt.audiences", [])],
  ["claim header cookie", withField("jwt.claim_headers", [{ claim: "sub", header: "cookie" }])],
  [
    "claim header x-sessiongate-app",
    withField("jwt.claim_headers", [{ claim: "sub", header: "x-sessiongate-app" }]),
  ],
  ["jwks cache too long", withField("jwt.jwks_cache_duration_s", 90_000)],
  ["fail_mode maybe", withField("ext_authz", { target: "pdp:9191", fail_mode: "maybe" })],
  ["sidecar port 0", withField("sidecar", { service: "shop", inbound_port: 0 })],
  ["unknown field", withField("colour", "blue")],
  ["unknown nested field", withField("oidc.client_secrets", "x")],
  [
    "no jwt",
    (() => {
      const d = base();
      delete d.jwt;
      return d;
    })(),
  ],
];

/** Field names of a message and its message fields, by proto name, as schema paths. */
function protoPaths(m: DescMessage, prefix = ""): string[] {
  return m.fields.flatMap((f) => {
    const p = `${prefix}${f.name}`;
    return f.message && f.fieldKind !== "map" ? [p, ...protoPaths(f.message, `${p}.`)] : [p];
  });
}

function schemaPaths(s: Doc, prefix = ""): string[] {
  const props = (s.properties ?? (s.items as Doc | undefined)?.properties) as Record<string, Doc> | undefined;
  if (!props) return [];
  return Object.entries(props).flatMap(([k, v]) => [`${prefix}${k}`, ...schemaPaths(v, `${prefix}${k}.`)]);
}

describe("app.schema.json agrees with the CLI and the xds-server's validator", () => {
  it("has exactly AppSpec's fields, at every level (proto field names)", () => {
    expect(schemaPaths(schema).sort()).toEqual(protoPaths(AppSpecSchema).sort());
  });

  it.each(VALID)("valid for both: %s", (_name, doc) => {
    expect(serverSays(doc)).toBeNull();
    expect(schemaSays(doc)).toBeNull();
  });

  it.each(INVALID)("refused by both: %s", (_name, doc) => {
    expect(serverSays(doc)).not.toBeNull();
    expect(schemaSays(doc)).not.toBeNull();
  });
});

describe("the buf module (protos/)", () => {
  it("buf lint passes on the repository's own configuration (protos/buf.yaml)", () => {
    // Throws (non-zero exit) with buf's findings on stderr when a rule fails.
    const out = execFileSync(join(REPO_ROOT, "node_modules/.bin/buf"), ["lint", "protos"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    expect(out).toBe("");
  });
});

describe("the validator reports every invalid field at once", () => {
  it("an app with five bad fields gets one INVALID_ARGUMENT naming all five, the first as the field", () => {
    const doc = base();
    doc.id = "Shop";
    doc.path_prefix = "/shop/";
    (doc.session as Doc).cookie_name = "sid";
    doc.upstreams = ["no-port"];
    (doc.jwt as Doc).audiences = [];
    let err: (Error & { field?: string; kind?: string }) | undefined;
    try {
      validateApp(fromJson(AppSpecSchema, doc as never) as unknown as RawAppSpec);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.kind).toBe("INVALID_ARGUMENT");
    expect(err?.field).toBe("id");
    expect(err?.message).toMatch(/^id: /);
    expect(err?.message.split("; ")).toHaveLength(5);
    for (const f of ["id:", "path_prefix:", "session.cookie_name:", "upstreams[0]:", "jwt.audiences:"])
      expect(err?.message).toContain(f);
  });

  it("one bad field keeps the single-error message it always had", () => {
    expect(serverSays(withField("id", "Shop"))).toMatch(/^id: must be/);
  });
});
