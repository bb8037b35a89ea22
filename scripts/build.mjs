#!/usr/bin/env node
// `npm run build`: protobuf TypeScript (buf), the AssemblyScript filter
// (build/session-to-token.wasm) and the compiled TypeScript (build/dist).
// Protos are regenerated only when their inputs changed (a stamp of hashes).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(root, "node_modules/.bin");
const started = Date.now();
const step = (msg) =>
  process.stderr.write(`build: ${msg} (+${((Date.now() - started) / 1000).toFixed(1)}s)\n`);

function run(cmd, args) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  if (r.status !== 0) {
    step(`FAILED: ${cmd} ${args.join(" ")}`);
    process.exit(r.status || 1);
  }
}

function hashTree(dir, h) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(p, h);
    else h.update(name).update(readFileSync(p));
  }
}

function protoStamp() {
  const h = createHash("sha256");
  for (const f of [
    "scripts/gen-protos.mjs",
    "protos/buf.gen.yaml",
    "node_modules/@grpc/grpc-js-xds/package.json",
  ]) {
    h.update(readFileSync(join(root, f)));
  }
  hashTree(join(root, "protos/sessiongate"), h);
  return h.digest("hex");
}

const stampFile = join(root, "protos/gen/.stamp");
const stamp = protoStamp();
if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) {
  step("protos up to date");
} else {
  step("generating protobuf TypeScript");
  run("node", ["scripts/gen-protos.mjs"]);
  writeFileSync(stampFile, stamp);
}
step("compiling the AssemblyScript filter");
run("asc", ["filter/assembly/index.ts", "--target", "release"]);
step("compiling TypeScript");
run("tsc", ["-p", "tsconfig.build.json"]);
step("done: build/session-to-token.wasm, build/dist/");
