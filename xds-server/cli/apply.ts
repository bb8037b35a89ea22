// `sessiongate apps apply -f FILE|DIR [--prune] [--dry-run]`: every AppSpec in
// the file (YAML documents separated by `---`, or JSON) or in the directory's
// *.yaml / *.yml / *.json files, sent as one ApplyApps call; prints what
// happened to each app (with a field diff for a dry run), then a summary.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type create, fromJson, toJson } from "@bufbuild/protobuf";
import YAML from "yaml";
import {
  type ApplyAppsResponse,
  type AppSpecSchema,
  AppSpecSchema as Spec,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { Client } from "./client.js";
import { EXIT } from "./exit-codes.js";

type AppSpec = ReturnType<typeof create<typeof AppSpecSchema>>;

/** The files of `path`: itself, or a directory's spec files in name order (not recursive). */
function specFiles(path: string): string[] {
  if (path === "-" || !statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.(ya?ml|json)$/i.test(f))
    .sort()
    .map((f) => join(path, f));
}

/** Every AppSpec in `path`; a file that does not parse throws naming it. */
export function readSpecs(path: string): AppSpec[] {
  const out: AppSpec[] = [];
  for (const file of specFiles(path)) {
    const text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
    const docs = YAML.parseAllDocuments(text);
    for (const [i, doc] of docs.entries()) {
      if (doc.errors.length) throw new Error(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
      const value = doc.toJS();
      if (value === null || value === undefined) continue; // an empty document (trailing ---)
      try {
        out.push(fromJson(Spec, value));
      } catch (e) {
        throw new Error(`${file}: document ${i + 1}: ${(e as Error).message}`);
      }
    }
  }
  return out;
}

const json = (s: AppSpec | undefined) =>
  s ? (toJson(Spec, s, { useProtoFieldName: true }) as Record<string, unknown>) : {};
const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export async function applyCommand(
  c: Client,
  o: { file: string; prune: boolean; dryRun: boolean; timeout: number; output: string },
): Promise<number> {
  let apps: AppSpec[];
  try {
    apps = readSpecs(o.file);
  } catch (e) {
    process.stderr.write(`sessiongate: ${(e as Error).message}\n`);
    return EXIT.invalid;
  }
  if (apps.length === 0) {
    process.stderr.write(`sessiongate: ${o.file}: no AppSpec found\n`);
    return EXIT.invalid;
  }
  const local = new Map(apps.map((a) => [a.id, a]));
  const res = await c.unary<unknown, ApplyAppsResponse>(
    "applyApps",
    { apps, prune: o.prune, dryRun: o.dryRun },
    o.timeout,
  );
  if (o.output === "json" || o.output === "yaml") {
    const v = {
      dry_run: res.dryRun,
      revision: String(res.revision),
      results: res.results.map((r) => ({ id: r.id, action: r.action, changed_fields: r.changedFields })),
    };
    process.stdout.write(o.output === "json" ? `${JSON.stringify(v, null, 2)}\n` : YAML.stringify(v));
  } else {
    const suffix = res.dryRun ? " (dry run)" : "";
    for (const r of res.results) {
      const fields = r.changedFields.length ? ` (${r.changedFields.map(snake).join(", ")})` : "";
      process.stdout.write(`app/${r.id} ${r.action}${fields}${suffix}\n`);
      if (r.action !== "updated" || !res.dryRun) continue;
      // A dry run's app is the registered one: show each changed field, registered then file.
      const before = json(r.app?.spec);
      const after = json(local.get(r.id));
      for (const f of r.changedFields) {
        const k = snake(camel(f));
        if (k === "oidc.client_secret") process.stdout.write("    oidc.client_secret: (changed)\n");
        else
          process.stdout.write(
            `  - ${k}: ${JSON.stringify(before[k] ?? null)}\n  + ${k}: ${JSON.stringify(after[k] ?? null)}\n`,
          );
      }
    }
  }
  const count = (a: string) => res.results.filter((r) => r.action === a).length;
  process.stderr.write(
    `${res.results.length} app(s): ${count("created")} created, ${count("updated")} updated, ` +
      `${count("unchanged")} unchanged, ${count("pruned")} pruned` +
      `${res.dryRun ? "; dry run, nothing changed" : ` (registry revision ${res.revision})`}\n`,
  );
  return EXIT.ok;
}
