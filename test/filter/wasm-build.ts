// Builds build/session-to-token.wasm when it is missing or older than the
// filter's sources, so `npx vitest run test/filter` works on a fresh tree.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const WASM_PATH = join(ROOT, "build", "session-to-token.wasm");

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function ensureWasm(): Uint8Array {
  const src = Math.max(
    newestSource(join(ROOT, "filter", "assembly")),
    statSync(join(ROOT, "asconfig.json")).mtimeMs,
  );
  if (!existsSync(WASM_PATH) || statSync(WASM_PATH).mtimeMs < src) {
    execFileSync(
      join(ROOT, "node_modules", ".bin", "asc"),
      ["filter/assembly/index.ts", "--target", "release"],
      { cwd: ROOT, stdio: "inherit" },
    );
  }
  return readFileSync(WASM_PATH);
}
