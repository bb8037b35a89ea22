#!/usr/bin/env node
// Installs the real identity providers the provider tests run (test/providers/),
// once, into a cache outside the repository (~/.cache/sessiongate, or
// $SESSIONGATE_CACHE):
//   keycloak  Keycloak (org.keycloak:keycloak-quarkus-dist) from Maven Central with
//             `mvn dependency:copy`, unpacked; it runs on a JDK >= 21 (found here).
//   zitadel   the OP of github.com/zitadel/oidc (Go), built from the Go module proxy
//             from test/providers/zitadel-op (pinned in its go.mod / go.sum).
//   dex       Dex (Go) v2.45.1, its module fetched from the Go module proxy by the
//             pseudo-version of the release commit (its v2 tags are not valid module
//             versions, and its go.mod's replace directive rules out `go install`),
//             then built with `go build`.
// Prints one JSON line per provider ({"keycloak": {...}}) with where it is.
// Exits non-zero, saying what is missing, when a tool (mvn, go, a JDK) is absent.
// Uses only Node built-ins (it runs from .ci/run as well as from the harness).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const KEYCLOAK_VERSION = "26.7.3";
/** Dex v2.45.1 is commit 11d2eeb52b42 of github.com/dexidp/dex. */
export const DEX = {
  version: "v2.45.1",
  module: "github.com/dexidp/dex",
  at: "v0.0.0-20260303133905-11d2eeb52b42",
};
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const CACHE = process.env.SESSIONGATE_CACHE || join(homedir(), ".cache", "sessiongate");
const log = (msg) => process.stderr.write(`ensure-providers: ${msg}\n`);

class Missing extends Error {}

function run(cmd, args, opts = {}) {
  const t0 = Date.now();
  log(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"], ...opts });
  if (r.status !== 0)
    throw new Error(`failed (${r.error?.message ?? `exit ${r.status}`}): ${cmd} ${args.join(" ")}`);
  log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

function javaMajor(javaBin) {
  const r = spawnSync(javaBin, ["-version"], { encoding: "utf8" });
  const m = /version "(\d+)/.exec(`${r.stderr}${r.stdout}`);
  return m ? Number(m[1]) : 0;
}

/** A JDK >= 21 (Keycloak 26 needs it): $KEYCLOAK_JAVA_HOME, $JAVA_HOME, then /usr/lib/jvm/*, newest first. */
export function findJavaHome() {
  const candidates = [process.env.KEYCLOAK_JAVA_HOME, process.env.JAVA_HOME].filter(Boolean);
  const jvm = "/usr/lib/jvm";
  if (existsSync(jvm)) {
    const dirs = readdirSync(jvm)
      .map((d) => join(jvm, d))
      .filter((d) => existsSync(join(d, "bin/java")));
    // temurin-25-jdk-amd64 first, then any other, by the major version they report.
    dirs.sort((a, b) => javaMajor(join(b, "bin/java")) - javaMajor(join(a, "bin/java")));
    candidates.push(...dirs);
  }
  const seen = [];
  for (const home of candidates) {
    const java = join(home, "bin/java");
    if (!existsSync(java)) continue;
    const major = javaMajor(java);
    seen.push(`${home} (${major || "?"})`);
    if (major >= 21) return home;
  }
  throw new Missing(
    `Keycloak ${KEYCLOAK_VERSION} needs a JDK >= 21; found ${seen.join(", ") || "none"}. ` +
      "Install a JDK 21+ (e.g. Eclipse Temurin; Debian 12 packages only 17) or set KEYCLOAK_JAVA_HOME.",
  );
}

const has = (bin) => spawnSync("sh", ["-c", `command -v ${bin}`], { stdio: "ignore" }).status === 0;

export function ensureKeycloak() {
  const javaHome = findJavaHome();
  const home = join(CACHE, `keycloak-${KEYCLOAK_VERSION}`);
  if (!existsSync(join(home, "bin/kc.sh"))) {
    if (!has("mvn")) throw new Missing("mvn (Maven) is needed to fetch Keycloak: apt-get install maven");
    const dl = join(CACHE, "dl");
    mkdirSync(dl, { recursive: true });
    const tgz = join(dl, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.tar.gz`);
    if (!existsSync(tgz)) {
      log(`fetching Keycloak ${KEYCLOAK_VERSION} from Maven Central (~170 MB)`);
      run("mvn", [
        "-q",
        "-B",
        "dependency:copy",
        `-Dartifact=org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:tar.gz`,
        `-DoutputDirectory=${dl}`,
      ]);
    }
    // Unpack beside the target and rename, so a half-unpacked tree is never taken for a whole one.
    const tmp = `${home}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    run("tar", ["-xzf", tgz, "-C", tmp]);
    rmSync(home, { recursive: true, force: true });
    renameSync(join(tmp, `keycloak-${KEYCLOAK_VERSION}`), home);
    rmSync(tmp, { recursive: true, force: true });
  }
  return { home, javaHome, version: KEYCLOAK_VERSION };
}

function goBin() {
  for (const g of [process.env.GO_BIN, "/usr/local/go/bin/go"]) if (g && existsSync(g)) return g;
  if (has("go")) return "go";
  throw new Missing("go is needed to build the zitadel/oidc provider (https://go.dev/doc/install)");
}

export function ensureZitadel() {
  const src = join(root, "test/providers/zitadel-op");
  // The binary is named by a hash of its sources, so a change rebuilds it.
  const h = createHash("sha256");
  for (const f of ["go.mod", "go.sum", "main.go"]) h.update(readFileSync(join(src, f)));
  const mod = /github\.com\/zitadel\/oidc\/v3 (v[\w.-]+)/.exec(readFileSync(join(src, "go.mod"), "utf8"));
  const version = mod ? mod[1] : "?";
  const bin = join(CACHE, "bin", `zitadel-op-${version}-${h.digest("hex").slice(0, 12)}`);
  if (!existsSync(bin)) {
    mkdirSync(dirname(bin), { recursive: true });
    log(`building the zitadel/oidc ${version} provider from the Go module proxy (about a minute)`);
    const tmp = `${bin}.tmp-${process.pid}`;
    run(goBin(), ["build", "-mod=readonly", "-trimpath", "-o", tmp, "."], {
      cwd: src,
      env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" },
    });
    renameSync(tmp, bin);
  }
  return { bin, version };
}

export function ensureDex() {
  const bin = join(CACHE, "bin", `dex-${DEX.version}`);
  if (!existsSync(bin)) {
    const go = goBin();
    mkdirSync(dirname(bin), { recursive: true });
    log(`building Dex ${DEX.version} from the Go module proxy (a few minutes on 2 cores)`);
    const dl = spawnSync(go, ["mod", "download", "-json", `${DEX.module}@${DEX.at}`], {
      encoding: "utf8",
      cwd: CACHE,
      env: { ...process.env, GOFLAGS: "-mod=mod" },
    });
    const dir = dl.status === 0 ? JSON.parse(dl.stdout).Dir : undefined;
    if (!dir) throw new Error(`go mod download ${DEX.module}@${DEX.at} failed: ${dl.stderr || dl.stdout}`);
    // The module cache is read-only; build in a copy whose go.mod takes the
    // api/v2 module from the proxy (the replace points into a directory the
    // module zip does not hold).
    const src = join(CACHE, "src", `dex-${DEX.version}-${process.pid}`);
    rmSync(src, { recursive: true, force: true });
    cpSync(dir, src, { recursive: true });
    const writable = (p) => {
      chmodSync(p, 0o755);
      for (const e of readdirSync(p, { withFileTypes: true }))
        if (e.isDirectory()) writable(join(p, e.name));
        else chmodSync(join(p, e.name), 0o644);
    };
    writable(src);
    run(go, ["mod", "edit", "-dropreplace", "github.com/dexidp/dex/api/v2"], { cwd: src });
    const tmp = `${bin}.tmp-${process.pid}`;
    run(
      go,
      [
        "build",
        "-mod=mod",
        "-trimpath",
        "-ldflags",
        `-X main.version=${DEX.version}`,
        "-o",
        tmp,
        "./cmd/dex",
      ],
      { cwd: src, env: { ...process.env, CGO_ENABLED: "0" } },
    );
    renameSync(tmp, bin);
    rmSync(src, { recursive: true, force: true });
  }
  return { bin, version: DEX.version };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const which = wanted.length ? wanted : ["keycloak", "zitadel", "dex"];
  try {
    for (const p of which) {
      if (p === "keycloak") process.stdout.write(`${JSON.stringify({ keycloak: ensureKeycloak() })}\n`);
      else if (p === "zitadel") process.stdout.write(`${JSON.stringify({ zitadel: ensureZitadel() })}\n`);
      else if (p === "dex") process.stdout.write(`${JSON.stringify({ dex: ensureDex() })}\n`);
      else throw new Missing(`unknown provider ${JSON.stringify(p)} (keycloak, zitadel, dex)`);
    }
  } catch (err) {
    log(err.message);
    process.exit(err instanceof Missing ? 3 : 1);
  }
}
