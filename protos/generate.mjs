#!/usr/bin/env node
// Generates TypeScript (protoc-gen-es) for the project's own protos and the
// subset of Envoy's API the control plane and tests use, into protos/gen/.
// With --if-changed it does nothing when a stamp of its inputs is unchanged
// (npm run build uses that; generation takes ~20 s).
//
// Envoy's protos come from @grpc/grpc-js-xds's deps/. Its copy of
// validate.proto lacks StringRules.ignore_empty (field 26 upstream), which
// envoy/config/core/v3/protocol.proto uses, so buf stops with "cannot resolve
// message field name". We generate from a build-time copy that adds the field.
// Its ext_authz.proto predates CheckSettings.grpc_service (field 4 of the
// `service_override` oneof in Envoy 1.40, read from the binary's descriptor),
// the per-route authorization service the gateway uses; the copy adds it too.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deps = join(root, "node_modules/@grpc/grpc-js-xds/deps");
const work = join(root, "build/proto-workspace");
const out = join(root, "protos/gen");
const stampFile = join(out, ".stamp");

/** Envoy API entry points we generate; include_imports pulls in their closure. */
export const ENVOY_PATHS = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/config/bootstrap/v3/bootstrap.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/jwt_authn/v3/config.proto",
  "envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto",
  "envoy/service/auth/v3/external_auth.proto",
  "envoy/extensions/filters/http/wasm/v3/wasm.proto",
  "envoy/extensions/wasm/v3/wasm.proto",
  "envoy/extensions/filters/http/lua/v3/lua.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/rbac/v3/rbac.proto",
  "envoy/extensions/filters/http/on_demand/v3/on_demand.proto",
];

function step(msg) {
  process.stderr.write(`protos/generate: ${msg}\n`);
}

function assembleWorkspace() {
  if (!existsSync(deps)) {
    throw new Error(`missing ${deps}: run npm ci first`);
  }
  rmSync(work, { recursive: true, force: true });
  const modules = ["envoy-api", "xds", "googleapis"];
  for (const m of modules) cpSync(join(deps, m), join(work, m), { recursive: true });
  mkdirSync(join(work, "protoc-gen-validate/validate"), { recursive: true });
  const validate = readFileSync(join(deps, "protoc-gen-validate/validate/validate.proto"), "utf8");
  writeFileSync(join(work, "protoc-gen-validate/validate/validate.proto"), patchValidate(validate));
  const extAuthz = join(work, "envoy-api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto");
  writeFileSync(extAuthz, patchExtAuthz(readFileSync(extAuthz, "utf8")));
  cpSync(join(root, "protos/sessiongate"), join(work, "sessiongate/sessiongate"), { recursive: true });
  const yaml = [
    "version: v2",
    "modules:",
    ...[...modules, "protoc-gen-validate", "sessiongate"].map((m) => `  - path: ${m}`),
    "",
  ].join("\n");
  writeFileSync(join(work, "buf.yaml"), yaml);
}

/** Adds `optional bool ignore_empty = 26;` to StringRules unless already present. */
export function patchValidate(text) {
  const start = text.indexOf("message StringRules {");
  if (start < 0) throw new Error("validate.proto: StringRules not found");
  const end = text.indexOf("\n}", start);
  const body = text.slice(start, end);
  if (/\bignore_empty\b/.test(body)) return text;
  const field =
    "\n\n    // Added at build time (present upstream): skip rules for the empty string.\n" +
    "    optional bool ignore_empty = 26;";
  return text.slice(0, end) + field + text.slice(end);
}

/** Adds CheckSettings' `oneof service_override { GrpcService grpc_service = 4; }` unless present. */
export function patchExtAuthz(text) {
  const start = text.indexOf("message CheckSettings {");
  if (start < 0) throw new Error("ext_authz.proto: CheckSettings not found");
  const end = text.indexOf("\n}", start);
  if (/\bservice_override\b/.test(text.slice(start, end))) return text;
  const field =
    "\n\n  // Added at build time (in Envoy 1.40): the authorization service for this route.\n" +
    "  oneof service_override {\n    config.core.v3.GrpcService grpc_service = 4;\n  }";
  return text.slice(0, end) + field + text.slice(end);
}

function hashTree(dir, h) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(p, h);
    else h.update(name).update(readFileSync(p));
  }
}

/** A hash of everything generation depends on. */
function inputStamp() {
  const h = createHash("sha256");
  for (const f of [
    "protos/generate.mjs",
    "protos/buf.gen.yaml",
    "node_modules/@grpc/grpc-js-xds/package.json",
  ]) {
    h.update(readFileSync(join(root, f)));
  }
  hashTree(join(root, "protos/sessiongate"), h);
  return h.digest("hex");
}

function main() {
  const stamp = inputStamp();
  if (
    process.argv.includes("--if-changed") &&
    existsSync(stampFile) &&
    readFileSync(stampFile, "utf8") === stamp
  ) {
    step("protos/gen is up to date");
    return;
  }
  step("assembling workspace from @grpc/grpc-js-xds deps (validate.proto, ext_authz.proto patched)");
  assembleWorkspace();
  rmSync(out, { recursive: true, force: true });
  const rel = "build/proto-workspace";
  const paths = [...ENVOY_PATHS.map((p) => `${rel}/envoy-api/${p}`), `${rel}/sessiongate/sessiongate`];
  const args = ["generate", rel, "--template", "protos/buf.gen.yaml", ...paths.flatMap((p) => ["--path", p])];
  step(`buf generate (${ENVOY_PATHS.length} Envoy entry points + sessiongate.v1)`);
  const bin = join(root, "node_modules/.bin");
  const r = spawnSync(join(bin, "buf"), args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  if (r.status !== 0) {
    step(`buf generate failed (exit ${r.status})`);
    process.exit(1);
  }
  writeFileSync(stampFile, stamp);
  step(`wrote ${out}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
