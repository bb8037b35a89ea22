// The browser client as the BFF serves it: sessiongate.js with one app's
// settings filled in, and its ETag. The source is read once per process.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SessionMode } from "../config/schema.js";

const MARKER = "/* sessiongate:config */ {}";
// Next to this module under tsx; from build/dist/bff/client the compiled
// build has no .js copy (tsc does not copy it), so fall back to the source tree.
const CANDIDATES = [
  join(import.meta.dirname, "sessiongate.js"),
  join(import.meta.dirname, "../../../../bff/client/sessiongate.js"),
];

export interface ClientSettings {
  app: string;
  mode: SessionMode;
  prefix: string;
  /** An app of a group: the group's routes (`<prefix>/_group/<group>`), for the silent sign-in. */
  group?: string;
}

export interface ClientBundle {
  body: Buffer;
  /** Strong ETag: a hash of the exact bytes served. */
  etag: string;
}

let source: string | undefined;
const bundles = new Map<string, ClientBundle>();

function clientSource(): string {
  if (source !== undefined) return source;
  const file = CANDIDATES.find((f) => existsSync(f));
  if (!file) throw new Error(`browser client source not found (looked in ${CANDIDATES.join(", ")})`);
  const text = readFileSync(file, "utf8");
  if (text.split(MARKER).length !== 2) throw new Error(`${file}: expected the config marker exactly once`);
  source = text;
  return text;
}

export function clientBundle(settings: ClientSettings): ClientBundle {
  // Key and body from the same JSON: one bundle per distinct settings.
  const json = JSON.stringify({
    app: settings.app,
    mode: settings.mode,
    prefix: settings.prefix,
    ...(settings.group ? { group: settings.group } : {}),
  });
  let b = bundles.get(json);
  if (!b) {
    // The values are validated ids/paths; escaping "<" still keeps the text inert if ever inlined.
    const body = Buffer.from(clientSource().replace(MARKER, json.replace(/</g, "\\u003c")), "utf8");
    b = { body, etag: `"${createHash("sha256").update(body).digest("base64url")}"` };
    bundles.set(json, b);
  }
  return b;
}
