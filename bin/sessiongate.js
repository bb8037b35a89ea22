#!/usr/bin/env node
// `sessiongate`: the command-line client of the registration API, and the
// entry point of the two servers (`sessiongate xds-server …`, `sessiongate bff …`).
// In a clone with tsx installed it runs the TypeScript source (development);
// in an installed package (no sources shipped) the compiled build/dist output.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const COMMANDS = {
  "xds-server": "xds-server/main",
  bff: "bff/main",
};
const sub = process.argv[2];
const target = Object.hasOwn(COMMANDS, sub) ? COMMANDS[sub] : "xds-server/cli/main";
// The servers parse process.argv.slice(2): drop the subcommand name.
if (target !== "xds-server/cli/main") process.argv.splice(2, 1);

// The packaged filter is the xds-server's default module wherever it is started
// from (its own default, build/session-to-token.wasm, is relative to the working
// directory, which only suits a clone).
const packagedWasm = join(root, "build/session-to-token.wasm");
if (
  sub === "xds-server" &&
  !process.env.SESSIONGATE_WASM_FILE &&
  !process.argv.some((a) => a === "--wasm-file" || a.startsWith("--wasm-file=")) &&
  existsSync(packagedWasm)
) {
  process.env.SESSIONGATE_WASM_FILE = packagedWasm;
}

const source = join(root, `${target}.ts`);
const dist = join(root, `build/dist/${target}.js`);
let entry = dist;
if (existsSync(source)) {
  try {
    const { register } = await import("tsx/esm/api");
    register();
    entry = source;
  } catch {
    // no tsx (production install of a clone): the compiled output below
  }
}
if (!existsSync(entry)) {
  process.stderr.write(`sessiongate: ${entry} is missing; run \`npm run build\`\n`);
  process.exit(1);
}
await import(pathToFileURL(entry).href);
