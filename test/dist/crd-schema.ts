// Validation of custom resources against the CRDs their projects publish, with
// no cluster: the CRD YAMLs come from the projects' Go modules, fetched through
// the Go module proxy (`go mod download`, cached in Go's module cache), and each
// version's openAPIV3Schema is checked with ajv. The API server also prunes
// unknown fields silently; here an unknown field is an error (a typo such as
// `phase: AUTHN` misspelled must not pass), except below
// `x-kubernetes-preserve-unknown-fields` (free-form values such as a WasmPlugin's
// pluginConfig). CEL rules (`x-kubernetes-validations`) are not evaluated.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import { parseAllDocuments } from "yaml";

/** Go, or a loud failure: the test cannot get the CRDs without it. */
export function goBin(): string {
  const candidates = [process.env.GO, "/usr/local/go/bin/go", "/usr/bin/go"].filter((p): p is string => !!p);
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error("go not found (set GO): the CRD schemas come from Go modules through the Go module proxy");
}

/** The directory of a Go module version in the module cache, downloaded when absent. */
export function goModuleDir(moduleAtVersion: string): string {
  const out = execFileSync(goBin(), ["mod", "download", "-json", moduleAtVersion], {
    cwd: "/",
    env: { ...process.env, GOFLAGS: "-mod=mod", GO111MODULE: "on" },
    encoding: "utf8",
    timeout: 600_000,
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${moduleAtVersion}: ${info.Error ?? out}`);
  return info.Dir;
}

type Schema = Record<string, unknown>;

/** Unknown fields become errors wherever the schema lists the fields. */
function closed(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(closed);
  if (!s || typeof s !== "object") return s;
  const o: Schema = {};
  for (const [k, v] of Object.entries(s as Schema)) o[k] = closed(v);
  if (o.properties && o.additionalProperties === undefined && !o["x-kubernetes-preserve-unknown-fields"])
    o.additionalProperties = false;
  return o;
}

export class CrdValidator {
  private schemas = new Map<string, ValidateFunction>();
  private ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

  /** Loads every CustomResourceDefinition in these YAML files. */
  constructor(files: string[]) {
    for (const f of files)
      for (const doc of parseAllDocuments(readFileSync(f, "utf8"))) {
        const crd = doc.toJS() as {
          kind?: string;
          spec?: {
            group: string;
            names: { kind: string };
            versions: { name: string; schema?: { openAPIV3Schema: Schema } }[];
          };
        } | null;
        if (crd?.kind !== "CustomResourceDefinition" || !crd.spec) continue;
        for (const v of crd.spec.versions) {
          if (!v.schema) continue;
          const root = closed(v.schema.openAPIV3Schema) as Schema;
          // apiVersion, kind and metadata are the API server's (some CRDs list only spec and status).
          root.properties = {
            apiVersion: { type: "string" },
            kind: { type: "string" },
            metadata: { type: "object" },
            ...(root.properties as Schema),
          };
          this.schemas.set(`${crd.spec.group}/${v.name}/${crd.spec.names.kind}`, this.ajv.compile(root));
        }
      }
  }

  get size(): number {
    return this.schemas.size;
  }

  /** Errors of one object ("Kind/name: path message"), empty when valid; an unknown kind is an error. */
  errors(o: { apiVersion?: string; kind?: string; metadata?: { name?: string } }): string[] {
    const id = `${o.kind}/${o.metadata?.name}`;
    const v = this.schemas.get(`${o.apiVersion}/${o.kind}`);
    if (!v) return [`${id}: no CRD schema for ${o.apiVersion} ${o.kind}`];
    if (v(o)) return [];
    return (v.errors ?? []).map(
      (e) => `${id}: ${e.instancePath || "/"} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ""}`,
    );
  }
}
