// `sessiongate apps apply -f FILE|DIR [--prune] [--dry-run]`: every AppSpec in
// the file (YAML documents separated by `---`, or JSON) or in the directory's
// *.yaml / *.yml / *.json files, sent as one ApplyAppsStream call (as many
// request messages as the specs need); prints what happened to each app (with
// a field diff for a dry run), then a summary; progress on stderr for large
// applies.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type create, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import YAML from "yaml";
import {
  type AppApplyResult,
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

/**
 * Each spec's size as JSON text: protobuf's encoding of the same spec is
 * smaller (tags instead of quoted names), so it bounds request messages
 * without encoding every spec twice.
 */
const textBytes = new WeakMap<AppSpec, number>();

/** Every AppSpec in `path`; a file that does not parse throws naming it. */
export function readSpecs(path: string): AppSpec[] {
  const out: AppSpec[] = [];
  for (const file of specFiles(path)) {
    const text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
    if (file.toLowerCase().endsWith(".json")) {
      // One spec per JSON file: JSON.parse is many times faster than the YAML parser.
      try {
        const spec = fromJson(Spec, JSON.parse(text));
        textBytes.set(spec, Buffer.byteLength(text));
        out.push(spec);
      } catch (e) {
        throw new Error(`${file}: ${(e as Error).message}`);
      }
      continue;
    }
    const docs = YAML.parseAllDocuments(text);
    for (const [i, doc] of docs.entries()) {
      if (doc.errors.length) throw new Error(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
      const value = doc.toJS();
      if (value === null || value === undefined) continue; // an empty document (trailing ---)
      try {
        const spec = fromJson(Spec, value);
        textBytes.set(spec, Buffer.byteLength(JSON.stringify(value)));
        out.push(spec);
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

/** Bytes of apps per request message: half the API's 1 MiB message limit. */
const MESSAGE_BYTES = 512 * 1024;
/** From this many apps on, progress goes to stderr. */
const PROGRESS_FROM = 1000;

/** The apps split into request messages under MESSAGE_BYTES each. */
function requests(apps: AppSpec[], prune: boolean, dryRun: boolean) {
  const out: { apps: AppSpec[]; prune: boolean; dryRun: boolean }[] = [];
  let cur: AppSpec[] = [];
  let bytes = 0;
  for (const a of apps) {
    const n = (textBytes.get(a) ?? toBinary(Spec, a).length) + 8;
    if (cur.length && bytes + n > MESSAGE_BYTES) {
      out.push({ apps: cur, prune, dryRun });
      cur = [];
      bytes = 0;
    }
    cur.push(a);
    bytes += n;
  }
  out.push({ apps: cur, prune, dryRun });
  return out;
}

interface Applied {
  results: AppApplyResult[];
  revision: bigint;
  dryRun: boolean;
}

/** One ApplyAppsStream call; `progress` after each response message. */
function applyStream(
  c: Client,
  apps: AppSpec[],
  o: { prune: boolean; dryRun: boolean; timeout: number },
  progress: (done: number, total: number) => void,
): Promise<Applied> {
  return new Promise((resolve, reject) => {
    const out: Applied = { results: [], revision: 0n, dryRun: o.dryRun };
    const call: grpc.ClientDuplexStream<unknown, ApplyAppsResponse> = c.raw.applyAppsStream(c.metadata(), {
      deadline: Date.now() + o.timeout,
    });
    call.on("data", (m: ApplyAppsResponse) => {
      for (const r of m.results) out.results.push(r);
      if (m.revision > out.revision) out.revision = m.revision;
      out.dryRun = m.dryRun;
      progress(out.results.length, m.total);
    });
    call.on("error", (e: grpc.ServiceError) => {
      // A refused batch: the refused apps came first, then the status.
      for (const r of out.results)
        if (r.action === "refused") process.stdout.write(`app/${r.id || "?"} refused: ${r.error}\n`);
      reject(e);
    });
    call.on("end", () => resolve(out));
    for (const r of requests(apps, o.prune, o.dryRun)) call.write(r);
    call.end();
  });
}

export async function applyCommand(
  c: Client,
  o: { file: string; prune: boolean; dryRun: boolean; timeout?: number; output: string },
): Promise<number> {
  let apps: AppSpec[];
  const t0 = performance.now();
  const secs = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
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
  const long = apps.length >= PROGRESS_FROM;
  if (long) process.stderr.write(`read ${apps.length} app(s) from ${o.file} in ${secs()}\n`);
  const local = new Map(apps.map((a) => [a.id, a]));
  let shown = 0;
  const res = await applyStream(
    c,
    apps,
    // Large applies get 20 ms per app unless --timeout-ms says otherwise.
    { prune: o.prune, dryRun: o.dryRun, timeout: o.timeout ?? Math.max(10_000, apps.length * 20) },
    (done, total) => {
      if (!long || (done - shown < PROGRESS_FROM && done < total)) return;
      shown = done;
      process.stderr.write(`applying: ${done}/${total} app(s) settled, ${secs()}\n`);
    },
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
