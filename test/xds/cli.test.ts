// The sessiongate CLI (real bin, real server): exit codes mean something and
// the server's error is shown.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { cli, inProcessServerConfig, TOKEN } from "./helpers.js";

let srv: RunningServer;
let env: Record<string, string>;

const app = (id: string, extra = "") => `id: ${id}
hosts: [${id}.test]
path_prefix: /
oidc: { issuer: "https://op.test", client_id: c, client_secret: "very-secret", scopes: [openid] }
upstreams: ["127.0.0.1:9"]
jwt: { issuer: "https://op.test", audiences: [api], remote_jwks_uri: "https://op.test/jwks" }
${extra}`;

function file(name: string, text: string): string {
  const f = join(tmpdir(), `sg-cli-${process.pid}-${name}`);
  writeFileSync(f, text);
  return f;
}

beforeAll(async () => {
  srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
  env = { SESSIONGATE_SERVER: `127.0.0.1:${srv.apiPort}`, SESSIONGATE_TOKEN: TOKEN };
});
afterAll(async () => {
  await srv?.stop();
});

describe("sessiongate CLI", () => {
  it("--help exits 0 and documents commands and exit codes", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("apps register -f FILE");
    expect(r.stdout).toContain("Exit codes");
  });

  it("exit codes: usage 2, invalid 3, not found 4, conflict 5, auth 6, unavailable 7", async () => {
    expect((await cli(["apps", "frobnicate"], env)).code).toBe(2);
    expect((await cli(["apps", "get"], env)).code).toBe(2);
    expect((await cli(["apps", "list", "--bogus"], env)).code).toBe(2);
    expect((await cli(["apps", "register"], env)).code).toBe(2);
    const bad = await cli(
      ["apps", "register", "-f", file("bad.yaml", app("bad", "session: { mode: cookie }"))],
      env,
    );
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain("server refused: INVALID_ARGUMENT: session.mode");
    const unknownField = await cli(
      ["apps", "register", "-f", file("unk.yaml", app("unk", "colour: blue"))],
      env,
    );
    expect(unknownField.code).toBe(3);
    expect((await cli(["apps", "register", "-f", "/nonexistent.yaml"], env)).code).toBe(3);
    expect((await cli(["apps", "get", "missing"], env)).code).toBe(4);
    expect((await cli(["apps", "register", "-f", file("a.yaml", app("a1"))], env)).code).toBe(0);
    const stale = await cli(["apps", "register", "-f", file("a.yaml", app("a1")), "--revision", "999"], env);
    expect(stale.code).toBe(5);
    expect(stale.stderr).toContain("FAILED_PRECONDITION");
    const clash = await cli(
      ["apps", "register", "-f", file("b.yaml", app("b1").replace("[b1.test]", "[a1.test]"))],
      env,
    );
    expect(clash.code).toBe(5);
    const unauth = await cli(["apps", "list"], { ...env, SESSIONGATE_TOKEN: "not-the-token-at-all" });
    expect(unauth.code).toBe(6);
    expect(unauth.stderr).toContain("UNAUTHENTICATED");
    expect(
      (await cli(["apps", "list", "--timeout-ms", "1500"], { ...env, SESSIONGATE_SERVER: "127.0.0.1:1" }))
        .code,
    ).toBe(7);
  });

  it("register twice updates; get never shows the secret; watch prints events; delete", async () => {
    const f = file("w.yaml", app("w1"));
    expect((await cli(["apps", "register", "-f", f], env)).code).toBe(0);
    const again = await cli(["apps", "register", "-f", f], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("updated app w1");
    const g = await cli(["apps", "get", "w1"], env);
    expect(g.stdout).toContain("client_secret_status: set (sha256:");
    expect(g.stdout).not.toContain("very-secret");
    const w = await cli(["apps", "watch", "--initial", "--count", "1"], env);
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout.trim().split("\n")[0]).type).toBe("ADDED");
    expect((await cli(["apps", "delete", "w1"], env)).code).toBe(0);
    expect((await cli(["apps", "delete", "w1"], env)).code).toBe(4);
  });
});
