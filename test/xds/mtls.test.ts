// Optional mTLS on the registration API: with a client CA configured, only
// clients presenting a certificate it signed get through (and still need the
// bearer token).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { cli, inProcessServerConfig, TOKEN } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "sg-mtls-"));
const f = (n: string) => join(dir, n);
const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

function pki() {
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=sg-test-ca",
  );
  writeFileSync(f("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (const [name, ca] of [
    ["server", "ca"],
    ["client", "ca"],
  ]) {
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      "-extfile",
      "san.ext",
    );
  }
  // A client certificate from a CA the server does not trust.
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "rogue.key",
    "-out",
    "rogue.pem",
    "-days",
    "1",
    "-subj",
    "/CN=rogue",
  );
}

let srv: RunningServer;
let base: Record<string, string>;

beforeAll(async () => {
  pki();
  srv = await startServer(
    inProcessServerConfig({
      apiTls: {
        cert: readFileSync(f("server.pem")),
        key: readFileSync(f("server.key")),
        clientCa: readFileSync(f("ca.pem")),
      },
    }),
    pino({ level: "silent" }),
  );
  base = {
    SESSIONGATE_SERVER: `localhost:${srv.apiPort}`,
    SESSIONGATE_TOKEN: TOKEN,
    SESSIONGATE_CA: f("ca.pem"),
  };
});
afterAll(async () => {
  await srv?.stop();
});

describe("registration API over mTLS", () => {
  it("a trusted client certificate and the token get through", async () => {
    const r = await cli(["apps", "list", "--cert", f("client.pem"), "--key", f("client.key")], base);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("no certificate, a rogue certificate, or plaintext are refused", async () => {
    const t = ["--timeout-ms", "2000"];
    expect((await cli(["apps", "list", ...t], base)).code).toBe(7);
    expect(
      (await cli(["apps", "list", ...t, "--cert", f("rogue.pem"), "--key", f("rogue.key")], base)).code,
    ).toBe(7);
    expect((await cli(["apps", "list", ...t], { ...base, SESSIONGATE_CA: "" })).code).toBe(7);
  });

  it("mTLS does not replace the bearer token", async () => {
    const r = await cli(["apps", "list", "--cert", f("client.pem"), "--key", f("client.key")], {
      ...base,
      SESSIONGATE_TOKEN: "wrong-token-0123456789",
    });
    expect(r.code).toBe(6);
  });
});
