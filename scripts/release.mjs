#!/usr/bin/env node
// `npm run release`: the filter as a release artifact in dist/release/ —
// session-to-token.wasm, its sha256 (sha256sum format) and an OCI image layout
// (dist/release/oci) in the Wasm OCI artifact format ("oci" variant of the Wasm
// image spec: config application/vnd.module.wasm.config.v1+json, one layer
// application/vnd.module.wasm.content.layer.v1+wasm holding the raw module), which
// Istio's WasmPlugin and Envoy Gateway's EnvoyExtensionPolicy pull. The layout is
// written by oras (built by scripts/go-tools.sh), never assembled by hand.
// `--push REF` then copies it to a registry with oras.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export const CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json";
export const LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm";

const HELP = `Usage: npm run release -- [options]

Builds the session-to-token filter and writes dist/release/:
  session-to-token.wasm          the module
  session-to-token.wasm.sha256   its sha256 (sha256sum -c format)
  oci/                           OCI image layout, tag = package version
  release.json                   digests and media types

Options:
  --out DIR         output directory (default dist/release)
  --tag TAG         OCI tag (default: the package version)
  --no-build        use build/session-to-token.wasm as it is
  --push REF        also copy the artifact to a registry (oras cp), e.g.
                    ghcr.io/you/session-to-token:0.1.0 (credentials: oras login)
  --plain-http      push over plain HTTP (a local test registry)
  -h, --help        show this help

Exit codes: 0 ok, 1 a step failed, 2 usage error.
`;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const step = (msg) => process.stderr.write(`release: ${msg}\n`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "inherit"], ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}`);
  return r.stdout?.toString() ?? "";
}

/** oras from $ORAS, else .tools/bin (built on first use by scripts/go-tools.sh). */
function oras() {
  if (process.env.ORAS) return process.env.ORAS;
  const bin = join(root, ".tools/bin/oras");
  if (!existsSync(bin)) {
    step("oras not built yet: scripts/go-tools.sh oras");
    const r = spawnSync("bash", [join(root, "scripts/go-tools.sh"), "oras"], { stdio: "inherit" });
    if (r.status !== 0) throw new Error("scripts/go-tools.sh oras failed");
  }
  return bin;
}

// What the wasm is built from: the manifest's created time is the last change to these.
const FILTER_SOURCES = ["filter", "asconfig.json"];

/**
 * The manifest's created annotation, reproducible (so the digest is): the
 * SOURCE_DATE_EPOCH convention when set, else the commit time of the last
 * commit that changed the filter's sources (not HEAD's: a commit elsewhere,
 * such as one writing the digest into the examples, must not change it).
 */
function createdAt() {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== "") {
    if (!/^\d+$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH=${epoch}: not a number of seconds`);
    return new Date(Number(epoch) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  const shallow = spawnSync("git", ["rev-parse", "--is-shallow-repository"], { cwd: root });
  if (shallow.stdout?.toString().trim() === "true")
    throw new Error(
      "a shallow clone does not know when the filter last changed (git fetch --unshallow, or set SOURCE_DATE_EPOCH)",
    );
  const r = spawnSync("git", ["log", "-1", "--format=%cI", "--", ...FILTER_SOURCES], { cwd: root });
  const t = r.status === 0 ? r.stdout.toString().trim() : "";
  return t ? new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z") : "1970-01-01T00:00:00Z";
}

function main() {
  let args;
  try {
    args = parseArgs({
      options: {
        out: { type: "string" },
        tag: { type: "string" },
        "no-build": { type: "boolean" },
        push: { type: "string" },
        "plain-http": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`release: ${e.message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const tag = args.tag ?? pkg.version;
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag)) {
    process.stderr.write(`release: --tag: not a valid OCI tag: ${JSON.stringify(tag)}\n`);
    return 2;
  }
  const out = args.out ? resolve(args.out) : join(root, "dist/release");

  if (!args["no-build"]) {
    step("building the filter (npm run build:wasm)");
    run("npm", ["run", "--silent", "build:wasm"], { stdio: ["ignore", "inherit", "inherit"] });
  }
  const built = join(root, "build/session-to-token.wasm");
  if (!existsSync(built)) throw new Error(`${built} is missing (run npm run build:wasm)`);
  const wasm = readFileSync(built);
  const sha256 = createHash("sha256").update(wasm).digest("hex");

  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  copyFileSync(built, join(out, "session-to-token.wasm"));
  writeFileSync(join(out, "session-to-token.wasm.sha256"), `${sha256}  session-to-token.wasm\n`);
  step(`session-to-token.wasm sha256 ${sha256} (${wasm.length} bytes)`);

  // oras names each layer after its file (annotation org.opencontainers.image.title):
  // the Wasm image spec calls the module plugin.wasm.
  const stage = join(out, ".stage");
  mkdirSync(stage);
  copyFileSync(built, join(stage, "plugin.wasm"));
  // Runtime metadata of the Wasm image spec; the ABI is named by the symbol the module exports.
  const config = { type: "envoy_proxy", abiVersions: ["proxy_abi_version_0_2_1"] };
  writeFileSync(join(stage, "config.json"), JSON.stringify(config));
  const layout = join(out, "oci");
  step(`writing the OCI image layout ${layout}:${tag} with oras`);
  run(
    oras(),
    [
      "push",
      "--no-tty",
      "--oci-layout",
      `${layout}:${tag}`,
      "--config",
      `config.json:${CONFIG_MEDIA_TYPE}`,
      "--annotation",
      `org.opencontainers.image.created=${createdAt()}`,
      "--annotation",
      `org.opencontainers.image.version=${pkg.version}`,
      "--annotation",
      "org.opencontainers.image.title=session-to-token",
      "--annotation",
      `org.opencontainers.image.licenses=${pkg.license}`,
      `plugin.wasm:${LAYER_MEDIA_TYPE}`,
    ],
    { cwd: stage },
  );
  rmSync(stage, { recursive: true, force: true });
  // oras leaves its (empty) upload directory behind; it is no part of the layout.
  rmSync(join(layout, "ingest"), { recursive: true, force: true });

  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
  const desc = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!desc) throw new Error(`oras wrote no manifest tagged ${tag} in ${layout}/index.json`);
  const blob = (d) => readFileSync(join(layout, "blobs", ...d.split(":")));
  const manifest = JSON.parse(blob(desc.digest).toString());
  const layer = manifest.layers?.[0];
  // What Istio and Envoy Gateway rely on: check it here rather than trust it.
  if (manifest.config?.mediaType !== CONFIG_MEDIA_TYPE || manifest.layers.length !== 1)
    throw new Error(`unexpected manifest from oras: ${JSON.stringify(manifest)}`);
  if (layer.mediaType !== LAYER_MEDIA_TYPE || layer.digest !== `sha256:${sha256}`)
    throw new Error(`layer ${layer.digest} (${layer.mediaType}) is not the module sha256:${sha256}`);

  const summary = {
    version: pkg.version,
    tag,
    wasm: { file: "session-to-token.wasm", sha256, size: wasm.length },
    oci: {
      layout: "oci",
      manifestDigest: desc.digest,
      manifestMediaType: manifest.mediaType,
      configMediaType: CONFIG_MEDIA_TYPE,
      layerMediaType: LAYER_MEDIA_TYPE,
      layerDigest: layer.digest,
    },
  };
  writeFileSync(join(out, "release.json"), `${JSON.stringify(summary, null, 2)}\n`);
  step(`OCI manifest ${desc.digest}`);

  if (args.push) {
    step(`pushing to ${args.push}`);
    run(
      oras(),
      [
        "cp",
        "--no-tty",
        "--from-oci-layout",
        ...(args["plain-http"] ? ["--to-plain-http"] : []),
        `${layout}:${tag}`,
        args.push,
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
  }
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  return 0;
}

try {
  process.exitCode = main();
} catch (e) {
  process.stderr.write(`release: ${e.message}\n`);
  process.exitCode = 1;
}
