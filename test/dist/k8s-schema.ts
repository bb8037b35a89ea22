// Validation of rendered Kubernetes objects without a cluster or a download:
// the JSON schemas shipped by `kubernetes-models` (Kubernetes' OpenAPI) and
// `@kubernetes-models/prometheus-operator` (the ServiceMonitor CRD), plus an
// unknown-field check, which the OpenAPI schemas do not make (they allow extra
// properties): the objects are type-checked as object literals against the
// same packages' TypeScript interfaces, where an unknown field is an error.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { LOG_DIR } from "../harness/index.js";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: unknown };
  [k: string]: unknown;
}

type Module = Record<string, new (data: unknown) => { validate(): void }>;

const MODELS: Record<string, { load: () => Promise<unknown>; types: string }> = {
  v1: { load: () => import("kubernetes-models/v1"), types: "kubernetes-models/v1" },
  "apps/v1": { load: () => import("kubernetes-models/apps/v1"), types: "kubernetes-models/apps/v1" },
  "policy/v1": { load: () => import("kubernetes-models/policy/v1"), types: "kubernetes-models/policy/v1" },
  "networking.k8s.io/v1": {
    load: () => import("kubernetes-models/networking.k8s.io/v1"),
    types: "kubernetes-models/networking.k8s.io/v1",
  },
  "monitoring.coreos.com/v1": {
    load: () => import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
    types: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
  },
};

/** Schema errors per object ("Kind/name: message"); empty when every object is valid. */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    const id = `${o.kind}/${o.metadata?.name}`;
    const m = MODELS[o.apiVersion];
    if (!m) {
      errors.push(`${id}: no schema for apiVersion ${o.apiVersion}`);
      continue;
    }
    const Model = ((await m.load()) as Module)[o.kind];
    if (!Model) {
      errors.push(`${id}: no schema for kind ${o.kind} in ${o.apiVersion}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      errors.push(`${id}: ${(e as Error).message}`);
    }
  }
  return errors;
}

/** Unknown or mistyped fields per object, from TypeScript's excess-property check. */
export function unknownFieldErrors(objects: K8sObject[], label: string): string[] {
  mkdirSync(LOG_DIR, { recursive: true });
  const file = join(LOG_DIR, `k8s-fields-${label}-${process.pid}.ts`);
  const lines: string[] = [];
  objects.forEach((o, i) => {
    const m = MODELS[o.apiVersion];
    if (!m) return;
    lines.push(`import type { I${o.kind} as T${i} } from "${m.types}/${o.kind}";`);
    lines.push(`// ${o.kind}/${o.metadata.name}`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`);
  });
  writeFileSync(file, `${lines.join("\n")}\n`);
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    });
    return ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName === file)
      .map((d) => {
        const text = d.file?.text ?? "";
        const line = d.start === undefined ? 0 : text.slice(0, d.start).split("\n").length;
        const owner = text
          .split("\n")
          .slice(0, line)
          .reverse()
          .find((l) => l.startsWith("// "));
        return `${owner?.slice(3) ?? "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
      });
  } finally {
    rmSync(file, { force: true });
  }
}
