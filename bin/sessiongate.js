#!/usr/bin/env node
// `sessiongate`: the command-line client of the registration API.
// Runs the TypeScript source through tsx when it is installed (development),
// otherwise the compiled build/dist output (npm run build).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "build/dist/xds-server/cli/main.js");
let entry;
try {
  const { register } = await import("tsx/esm/api");
  register();
  entry = join(root, "xds-server/cli/main.ts");
} catch {
  if (!existsSync(dist)) {
    process.stderr.write("sessiongate: neither tsx nor build/dist is available; run `npm run build`\n");
    process.exit(1);
  }
  entry = dist;
}
await import(pathToFileURL(entry).href);
