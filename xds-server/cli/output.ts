// How the CLI prints apps: YAML or JSON of their proto3 JSON, or a table for `apps list`.
import { toJson } from "@bufbuild/protobuf";
import YAML from "yaml";
import { type App, AppSchema } from "../../protos/gen/sessiongate/v1/apps_pb.js";

export const appJson = (a: App) => toJson(AppSchema, a, { useProtoFieldName: true });

export function print(fmt: string, value: unknown): void {
  process.stdout.write(fmt === "json" ? `${JSON.stringify(value, null, 2)}\n` : YAML.stringify(value));
}

export function table(apps: App[]): string {
  const rows = [["ID", "REVISION", "HOSTS", "PREFIX", "MODE", "GROUP", "UPSTREAMS", "STATUS"]];
  for (const a of apps) {
    const s = a.spec!;
    rows.push([
      s.id,
      String(a.revision),
      s.hosts.join(","),
      s.pathPrefix,
      s.session?.mode ?? "",
      s.group || "-",
      s.upstreams.join(","),
      a.status?.state ?? "",
    ]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return `${rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(w[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
