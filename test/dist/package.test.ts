// The npm package as a new user gets it: `npm pack` from this clone (prepack
// builds), `npm i ./sessiongate-*.tgz` in an empty directory outside it, then
// the installed `sessiongate` bin — --help of every command, an xds-server and
// a BFF started from the installed package, and the CLI's apps commands against
// that xds-server. Nothing here runs from the clone's sources.
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, startProcess, startRedis, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { run, sha256File, tarList } from "./exec.js";

const TOKEN = "dist-test-api-token-0123456789";
const BFF_TOKEN = "dist-test-bff-token-0123456789";
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8"));

let work: string;
let tarball: string;
let app: string; // the empty directory the package is installed into
let entries: string[];

const npx = (args: string[], env: Record<string, string> = {}) =>
  run("npx", ["--no-install", "sessiongate", ...args], { cwd: app, env });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "sg-dist-pkg-"));
  // A clean clone's state: the files git would check out (tracked and new, not
  // ignored: no build/, no protos/gen/), with this checkout's node_modules. The
  // build runs there, so it starts from nothing and never rewrites the build/
  // that other test files are reading.
  const clone = join(work, "clone");
  const ls = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO_ROOT,
  });
  expect(ls.code, ls.stderr).toBe(0);
  for (const f of ls.stdout.split("\0").filter(Boolean)) {
    if (existsSync(join(REPO_ROOT, f))) cpSync(join(REPO_ROOT, f), join(clone, f), { recursive: true });
  }
  symlinkSync(join(REPO_ROOT, "node_modules"), join(clone, "node_modules"));
  const packDir = join(work, "pack");
  mkdirSync(packDir);
  process.stderr.write("dist: npm pack in a clean copy of the clone (prepack runs npm run build)…\n");
  const packed = await run("npm", ["pack", "--pack-destination", packDir], { cwd: clone });
  expect(packed.code, packed.stderr).toBe(0);
  const tgz = readdirSync(packDir).filter((f) => /^sessiongate-.*\.tgz$/.test(f));
  expect(tgz).toHaveLength(1);
  tarball = join(packDir, tgz[0]);
  entries = await tarList(tarball);

  app = join(work, "app");
  mkdirSync(app);
  process.stderr.write(`dist: npm i ${tarball} in an empty directory (from the npm cache when it can)…\n`);
  const inst = await run(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--no-package-lock", tarball],
    { cwd: app },
  );
  expect(inst.code, inst.stderr).toBe(0);
  process.stderr.write("dist: installed\n");
}, budget(900_000));

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the npm tarball", () => {
  it("holds the compiled build, the wasm and the browser client, and no test/ or TypeScript source", () => {
    const files = entries.map((e) => e.replace(/^package\//, ""));
    for (const f of [
      "bin/sessiongate.js",
      "build/session-to-token.wasm",
      "build/dist/xds-server/main.js",
      "build/dist/xds-server/cli/main.js",
      "build/dist/bff/main.js",
      "build/dist/protos/gen/sessiongate/v1/apps_pb.js",
      "bff/client/sessiongate.js",
      "bff/client/react.js",
      "bff/client/react.d.ts",
      "README.md",
    ])
      expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith("test/") || f.includes("/test/"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(files.filter((f) => f.startsWith("node_modules/") || f.startsWith(".tools/"))).toEqual([]);
  });

  it("installs the wasm the build made, byte for byte (same sha256: the build is reproducible)", () => {
    const built = sha256File(join(REPO_ROOT, "build/session-to-token.wasm"));
    const installed = sha256File(join(app, "node_modules/sessiongate/build/session-to-token.wasm"));
    expect(installed).toBe(built);
  });

  it("needs no devDependency at run time: every bare import of the compiled code is a dependency", () => {
    const root = join(app, "node_modules/sessiongate/build/dist");
    const deps = new Set(Object.keys(pkg.dependencies));
    const missing = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith(".js")) {
          for (const m of readFileSync(p, "utf8").matchAll(
            /(?<![\w$.])(?:from|import\()\s*"([^".][^"]*)"/g,
          )) {
            const spec = m[1];
            if (spec.startsWith("node:")) continue;
            const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
            if (!deps.has(name)) missing.add(`${name} (${p})`);
          }
        }
      }
    };
    walk(root);
    expect([...missing]).toEqual([]);
    // and none was installed alongside to hide a missing one
    for (const dev of ["tsx", "typescript", "vitest", "assemblyscript"])
      expect(readdirSync(join(app, "node_modules"))).not.toContain(dev);
  });

  it("exports sessiongate/react (ESM + types) with React as an optional peer, which a plain install does not pull", async () => {
    const installed = JSON.parse(readFileSync(join(app, "node_modules/sessiongate/package.json"), "utf8"));
    expect(installed.exports["./react"]).toEqual({
      types: "./bff/client/react.d.ts",
      default: "./bff/client/react.js",
    });
    expect(installed.peerDependencies.react).toMatch(/^>=\s*18/);
    expect(installed.peerDependenciesMeta.react).toEqual({ optional: true });
    expect(readdirSync(join(app, "node_modules"))).not.toContain("react");
    // Node resolves the subpath from outside the package (the module itself needs React to load).
    const r = await run(
      process.execPath,
      ["--input-type=module", "-e", 'process.stdout.write(import.meta.resolve("sessiongate/react"))'],
      { cwd: app },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`file://${join(app, "node_modules/sessiongate/bff/client/react.js")}`);
    const source = readFileSync(join(app, "node_modules/sessiongate/bff/client/react.js"), "utf8");
    // Its only import is React (the usage comment at its top is no import).
    expect([...source.matchAll(/^import\b[^;]*?from\s*"([^"]+)";/gm)].map((m) => m[1])).toEqual(["react"]);
  });
});

describe("the installed sessiongate command", () => {
  it("--help for the CLI, xds-server and bff exits 0 and says what each is", async () => {
    const [top, xds, bff] = await Promise.all([
      npx(["--help"]),
      npx(["xds-server", "--help"]),
      npx(["bff", "--help"]),
    ]);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout).toContain("apps register -f FILE");
    expect(top.stdout).toContain("sessiongate xds-server");
    expect(top.stdout).toContain("sessiongate bff");
    expect(xds.code, xds.stderr).toBe(0);
    expect(xds.stdout).toContain("--redis-url");
    expect(xds.stdout).toContain("--wasm-file");
    expect(bff.code, bff.stderr).toBe(0);
    expect(bff.stdout).toContain("--config <file>");
  });

  it("xds-server and BFF started from the package serve the packaged wasm, apps commands and /healthz", {
    timeout: budget(240_000),
  }, async () => {
    const bin = join(app, "node_modules/.bin/sessiongate");
    const xds = await startProcess({
      name: "dist-xds-server",
      cmd: bin,
      cwd: app, // not the clone: the packaged wasm must be found from the package itself
      args: [
        "xds-server",
        "--xds-insecure",
        "--xds-port=0",
        "--api-port=0",
        "--http-port=0",
        `--api-token=${TOKEN}`,
        `--bff-token=${BFF_TOKEN}`,
      ],
      ready: { log: /"httpPort":\d+/ },
      readyTimeoutMs: 60_000,
    });
    const started = xds
      .log()
      .split("\n")
      .map((l) => (l.startsWith("{") ? JSON.parse(l) : {}))
      .find((l) => l.httpPort);
    expect(started.wasm).toBe(sha256File(join(REPO_ROOT, "build/session-to-token.wasm")));
    const wasm = await fetch(`http://127.0.0.1:${started.httpPort}/wasm/session-to-token.wasm`);
    expect(wasm.status).toBe(200);
    expect(
      createHash("sha256")
        .update(Buffer.from(await wasm.arrayBuffer()))
        .digest("hex"),
    ).toBe(started.wasm);

    const env = { SESSIONGATE_SERVER: `127.0.0.1:${started.apiPort}`, SESSIONGATE_TOKEN: TOKEN };
    const appFile = join(work, "shop.yaml");
    writeFileSync(
      appFile,
      `id: shop
hosts: [shop.example.com]
path_prefix: /
oidc: { issuer: "https://op.example.com", client_id: shop, client_secret: "shop-client-secret", scopes: [openid] }
upstreams: ["127.0.0.1:9"]
jwt: { issuer: "https://op.example.com", audiences: [api], remote_jwks_uri: "https://op.example.com/jwks" }
`,
    );
    const reg = await npx(["apps", "register", "-f", appFile], env);
    expect(reg.code, reg.stderr).toBe(0);
    const list = await npx(["apps", "list", "-o", "json"], env);
    expect(list.code, list.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(list.stdout))).toContain('"id":"shop"');
    const get = await npx(["apps", "get", "shop", "-o", "json"], env);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).not.toContain("shop-client-secret");
    const denied = await npx(["apps", "list"], { ...env, SESSIONGATE_TOKEN: "wrong-token-0123456789" });
    expect(denied.code).toBe(6);

    // The BFF from the package: sessions in a real Redis, apps from the xds-server's stream.
    const redis = await startRedis();
    const bffConfig = join(work, "bff.json");
    writeFileSync(
      bffConfig,
      JSON.stringify({
        log_level: "info",
        public: { listen: "127.0.0.1:0" },
        internal: { listen: "127.0.0.1:0" },
        redis: { url: redis.url },
        keys: { keys: { k1: Buffer.alloc(32, 7).toString("base64") } },
        registry: { address: `127.0.0.1:${started.apiPort}`, token: BFF_TOKEN },
      }),
    );
    const bff = await startProcess({
      name: "dist-bff",
      cmd: bin,
      cwd: app,
      args: ["bff", "--config", bffConfig],
      ready: { log: /"internalUrl"/ },
      readyTimeoutMs: 60_000,
    });
    const internalUrl = await waitFor("the BFF's internal listener in its log", async () => {
      const m = bff.log().match(/"internalUrl":"(http:\/\/127\.0\.0\.1:\d+)"/);
      return m?.[1];
    });
    const health = await fetch(`${internalUrl}/healthz`);
    expect(health.status).toBe(200);
    await waitFor(
      "the BFF to be ready (Redis)",
      async () => (await fetch(`${internalUrl}/readyz`)).status === 200,
    );

    const del = await npx(["apps", "delete", "shop"], env);
    expect(del.code, del.stderr).toBe(0);
    const after = await npx(["apps", "get", "shop"], env);
    expect(after.code).toBe(4);

    await bff.stop();
    await xds.stop();
    await redis.stop();
  });
});
