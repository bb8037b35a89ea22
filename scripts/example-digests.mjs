#!/usr/bin/env node
// `npm run examples:digests`: writes the OCI manifest digest of the filter
// artifact `npm run release` makes from the current build into the Istio and
// Envoy Gateway examples (their `session-to-token@sha256:<digest>` pins). The
// wasm build and the manifest are reproducible (release.mjs), so the digest
// is known before anything is pushed; `--check` exits 1 when a manifest pins
// another digest than the current build's (test/dist/example-digests.test.ts).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The examples and the one pin each holds. */
const PINNED = ["examples/istio/wasmplugin.yaml", "examples/envoy-gateway/policies.yaml"];
// A digest, or the placeholder the examples held before the digest was known.
const PIN = /(session-to-token@sha256:)([0-9a-f]{64}|REPLACE-WITH-[A-Za-z0-9._-]+)/g;
const HELP = `Usage: node scripts/example-digests.mjs [--check]

Computes the OCI manifest digest of the filter artifact \`npm run release\` would
build from build/session-to-token.wasm (run \`npm run build:wasm\` first) and
writes it into the examples that pin it:
${PINNED.map((f) => `  ${f}\n`).join("")}
Options:
  --check       change nothing; exit 1 when an example pins another digest
  -h, --help    show this help

Exit codes: 0 ok (written, or up to date with --check), 1 out of date or a step
failed, 2 usage error.
`;
const say = (msg) => process.stderr.write(`example-digests: ${msg}\n`);

/** The manifest digest (sha256:…) release.mjs writes for the current build, from a scratch directory. */
function currentDigest() {
  const wasm = join(root, "build/session-to-token.wasm");
  if (!existsSync(wasm)) throw new Error(`${wasm} is missing (npm run build:wasm)`);
  const out = mkdtempSync(join(tmpdir(), "sg-example-digests-"));
  try {
    const r = spawnSync(process.execPath, [join(root, "scripts/release.mjs"), "--no-build", "--out", out], {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
    });
    if (r.status !== 0) throw new Error(`scripts/release.mjs exited ${r.status ?? r.signal}`);
    return JSON.parse(readFileSync(join(out, "release.json"), "utf8")).oci.manifestDigest;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function main() {
  let args;
  try {
    args = parseArgs({
      options: { check: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (e) {
    process.stderr.write(`example-digests: ${e.message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const digest = currentDigest();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`release.json: unexpected digest ${digest}`);
  const hex = digest.slice("sha256:".length);
  say(`the current build's OCI manifest: ${digest}`);
  let stale = 0;
  for (const rel of PINNED) {
    const file = join(root, rel);
    const text = readFileSync(file, "utf8");
    const pins = [...text.matchAll(PIN)];
    if (pins.length !== 1)
      throw new Error(`${rel}: expected one session-to-token@sha256: pin, found ${pins.length}`);
    const now = pins[0][2];
    if (now === hex) {
      say(`${rel}: up to date`);
      continue;
    }
    stale += 1;
    if (args.check) say(`${rel}: pins ${now}, the current build is ${hex} (run npm run examples:digests)`);
    else {
      writeFileSync(file, text.replace(PIN, `$1${hex}`));
      say(`${rel}: ${now} -> ${hex}`);
    }
  }
  process.stdout.write(`${digest}\n`);
  return args.check && stale > 0 ? 1 : 0;
}

try {
  process.exitCode = main();
} catch (e) {
  process.stderr.write(`example-digests: ${e.message}\n`);
  process.exitCode = 1;
}
