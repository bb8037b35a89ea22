// AppSpec.public_paths: validation (INVALID_ARGUMENT naming public_paths[i])
// and the registration API / CLI round trip. Routing through a real Envoy is
// in public-paths.e2e.test.ts.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { baseSpec, cli, inProcessServerConfig, TOKEN, writeApp } from "./helpers.js";

const spec = (pathPrefix: string, publicPaths: string[]) =>
  ({ ...baseSpec("pub"), pathPrefix, publicPaths }) as RawAppSpec;

function refusal(pathPrefix: string, publicPaths: string[], bffPrefix?: string): string {
  try {
    validateApp(spec(pathPrefix, publicPaths), undefined, bffPrefix);
  } catch (e) {
    return (e as Error).message;
  }
  return "accepted";
}

describe("public_paths validation", () => {
  it("accepts exact paths and trailing /* prefixes under path_prefix", () => {
    const ok = validateApp(spec("/", ["/", "/index.html", "/assets/*", "/docs/", "/a/b:c@d"]));
    expect(ok.spec.publicPaths).toEqual(["/", "/index.html", "/assets/*", "/docs/", "/a/b:c@d"]);
    expect(validateApp(spec("/app", ["/app", "/app/static/*"])).spec.publicPaths).toEqual([
      "/app",
      "/app/static/*",
    ]);
    // None given: the field is absent from the stored spec.
    expect(validateApp(spec("/", [])).spec.publicPaths).toBeUndefined();
  });

  it.each([
    [["assets/*"], "public_paths[0]: must start with '/'"],
    [["/ok", "/x?y=1"], "public_paths[1]: must be a path (no query or fragment)"],
    [["/x#frag"], "public_paths[0]: must be a path (no query or fragment)"],
    [["/a/../b"], "public_paths[0]: must be normalised"],
    [["/a/./b"], "public_paths[0]: must be normalised"],
    [["/a//b"], "public_paths[0]: must be normalised"],
    [["/a\u0000"], "public_paths[0]: contains control characters"],
    [["/a\u007f"], "public_paths[0]: contains control characters"],
    [["/a*"], "public_paths[0]: '*' is only allowed as a trailing \"/*\""],
    [["/*/x"], "public_paths[0]: '*' is only allowed as a trailing \"/*\""],
    [["/a/**"], "public_paths[0]: '*' is only allowed as a trailing \"/*\""],
    [["/a%2e"], "public_paths[0]: must contain only URL path characters"],
    [["/a b"], "public_paths[0]: must contain only URL path characters"],
    [["/auth"], "public_paths[0]: must not overlap the BFF routes /auth"],
    [["/auth/login"], "public_paths[0]: must not overlap the BFF routes /auth"],
    [["/auth/*"], "public_paths[0]: must not overlap the BFF routes /auth"],
    [["/*"], "public_paths[0]: must not overlap the BFF routes /auth"],
    [["/x", "/x"], 'public_paths[1]: duplicate "/x"'],
    [[""], "public_paths[0]: required"],
    [[`/${"a".repeat(256)}`], "public_paths[0]: longer than 256 characters"],
    [Array.from({ length: 65 }, (_, i) => `/p${i}`), "public_paths: at most 64 entries"],
  ])("refuses %j", (paths, message) => {
    expect(refusal("/", paths)).toContain(message);
  });

  it("must lie under path_prefix and never over its BFF routes", () => {
    expect(refusal("/app", ["/other"])).toBe("public_paths[0]: must lie under path_prefix /app");
    expect(refusal("/app", ["/appx"])).toBe("public_paths[0]: must lie under path_prefix /app");
    expect(refusal("/app", ["/app/auth/callback"])).toContain("must not overlap the BFF routes /app/auth");
    // A prefix covering the BFF routes would make the whole app public.
    expect(refusal("/app", ["/app/*"])).toContain("must not overlap the BFF routes /app/auth");
    expect(refusal("/app", ["/app/authx"])).toBe("accepted");
    // The configured BFF prefix counts, not just the default.
    expect(refusal("/", ["/login"], "/login")).toContain("must not overlap the BFF routes /login");
    expect(refusal("/", ["/auth"], "/login")).toBe("accepted");
  });
});

describe("public_paths through the API and the CLI", () => {
  let srv: RunningServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
    env = { SESSIONGATE_SERVER: `127.0.0.1:${srv.apiPort}`, SESSIONGATE_TOKEN: TOKEN };
  });
  afterAll(async () => {
    await srv?.stop();
  });

  const yamlApp = (publicPaths: string[]) => ({
    id: "spa",
    hosts: ["spa.test"],
    path_prefix: "/",
    oidc: { issuer: "https://op.test", client_id: "c", client_secret: "very-secret" },
    upstreams: ["127.0.0.1:9"],
    jwt: { issuer: "https://op.test", audiences: ["api"], remote_jwks_uri: "https://op.test/jwks" },
    public_paths: publicPaths,
  });

  it("the CLI registers a YAML spec with public_paths and reads them back", async () => {
    const r = await cli(["apps", "register", "-f", writeApp(yamlApp(["/", "/assets/*"]))], env);
    expect(r.stderr).toContain("created app spa");
    expect(r.code).toBe(0);
    const g = await cli(["apps", "get", "spa", "-o", "json"], env);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).spec.public_paths).toEqual(["/", "/assets/*"]);
  });

  it("an invalid public path: exit 3, the field named, the stored app unchanged", async () => {
    const r = await cli(["apps", "register", "-f", writeApp(yamlApp(["/", "/auth/*"]))], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("INVALID_ARGUMENT: public_paths[1]: must not overlap the BFF routes /auth");
    const g = await cli(["apps", "get", "spa", "-o", "json"], env);
    expect(JSON.parse(g.stdout).spec.public_paths).toEqual(["/", "/assets/*"]);
  });
});
