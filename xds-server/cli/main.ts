// sessiongate CLI: apps register|apply|list|get|delete|watch against the
// registration API. Exit codes say what went wrong (see HELP).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type create, fromJson, toJson } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import YAML from "yaml";
import {
  type App,
  type AppEvent,
  AppEventSchema,
  AppSpecSchema,
  type DeleteAppResponse,
  type ListAppsResponse,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { applyCommand } from "./apply.js";
import { runCerts } from "./certs.js";
import { connect } from "./client.js";
import { EXIT, exitFor } from "./exit-codes.js";
import { appJson, print, table } from "./output.js";

export const HELP = `Usage: sessiongate [options] apps <command> [args]
       sessiongate xds-server [options]    the control plane (--help for its flags)
       sessiongate bff --config FILE       the BFF (--help for its options)

Command-line client of the sessiongate registration API (gRPC, sessiongate.v1),
and the entry point of the two servers.

Commands:
  apps register -f FILE [--revision N]  create the app in FILE (YAML/JSON AppSpec),
                                        or update it if it exists (at --revision, else
                                        at its current revision)
  apps apply -f FILE|DIR [--prune] [--dry-run]
                                        make the registry hold the AppSpecs in FILE (YAML
                                        documents or JSON) or DIR (*.yaml, *.yml, *.json):
                                        create, update what changed (an unchanged app keeps
                                        its revision), --prune deletes apps not listed;
                                        one ApplyAppsStream call (up to 25,000 apps);
                                        prints each app and a summary, progress
                                        on stderr from 1,000 apps on
  apps list                             list apps
  apps get ID                           show one app (the client secret is never shown)
  apps delete ID [--revision N]         delete an app (only at revision N when given)
  apps watch [--initial] [--count N]    stream changes (ADDED/MODIFIED/DELETED)
  certs init | certs issue              a local root CA and workload certificates
                                        (sessiongate certs --help)

Options:
  --server HOST:PORT   API address (env SESSIONGATE_SERVER, default 127.0.0.1:18001)
  --token TOKEN        bearer token (env SESSIONGATE_TOKEN)
  --token-file FILE    read the bearer token from FILE
  -o, --output FMT     table | json | yaml (default: table for list, yaml otherwise)
  --timeout-ms N       per-call deadline (default 10000; apps apply: 20 per app, at least 10000)
  --tls                use TLS (implied by the three options below)
  --ca FILE            PEM CA to verify the server (env SESSIONGATE_CA)
  --cert FILE, --key FILE  client certificate and key for mTLS (env SESSIONGATE_CERT / SESSIONGATE_KEY)
  -h, --help           show this help

Exit codes:
  0 ok   1 unexpected error   2 usage error   3 invalid argument (server or file)
  4 not found   5 conflict (already exists, failed precondition: revision, host+prefix)
  6 unauthenticated / permission denied   7 server unavailable or deadline exceeded
`;

class Usage extends Error {}

function revisionArg(v: string | undefined): bigint {
  if (v === undefined) return 0n;
  if (!/^\d{1,15}$/.test(v))
    throw new Usage(`--revision: expected a positive integer, got ${JSON.stringify(v)}`);
  return BigInt(v);
}

export async function run(argv: string[]): Promise<number> {
  if (argv[0] === "certs") return runCerts(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      server: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      output: { type: "string", short: "o" },
      "timeout-ms": { type: "string" },
      file: { type: "string", short: "f" },
      revision: { type: "string" },
      initial: { type: "boolean" },
      count: { type: "string" },
      prune: { type: "boolean" },
      "dry-run": { type: "boolean" },
      help: { type: "boolean", short: "h" },
      tls: { type: "boolean" },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
    },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(HELP);
    return positionals.length === 0 && !values.help ? EXIT.usage : EXIT.ok;
  }
  const [group, cmd, ...rest] = positionals;
  if (group !== "apps" || !cmd) throw new Usage(`unknown command ${JSON.stringify(positionals.join(" "))}`);
  const server = values.server ?? process.env.SESSIONGATE_SERVER ?? "127.0.0.1:18001";
  const token = values["token-file"]
    ? readFileSync(values["token-file"], "utf8").trim()
    : (values.token ?? process.env.SESSIONGATE_TOKEN ?? "");
  const timeoutGiven = values["timeout-ms"] !== undefined;
  const timeout = Number(values["timeout-ms"] ?? 10000);
  if (!Number.isInteger(timeout) || timeout <= 0)
    throw new Usage("--timeout-ms: expected a positive integer");
  const output = values.output ?? "";
  if (output && !["table", "json", "yaml"].includes(output))
    throw new Usage(`--output: expected table, json or yaml`);
  const needId = () => {
    if (rest.length !== 1) throw new Usage(`apps ${cmd} takes exactly one app id`);
    return rest[0];
  };
  const ca = values.ca ?? process.env.SESSIONGATE_CA;
  const cert = values.cert ?? process.env.SESSIONGATE_CERT;
  const key = values.key ?? process.env.SESSIONGATE_KEY;
  if (Boolean(cert) !== Boolean(key)) throw new Usage("--cert and --key go together");
  const tls =
    values.tls || ca || cert
      ? {
          ca: ca ? readFileSync(ca) : undefined,
          cert: cert ? readFileSync(cert) : undefined,
          key: key ? readFileSync(key) : undefined,
        }
      : undefined;
  const c = connect(server, token, tls);
  try {
    switch (cmd) {
      case "register": {
        if (!values.file) throw new Usage("apps register needs -f FILE");
        let spec: ReturnType<typeof create<typeof AppSpecSchema>>;
        try {
          const text = values.file === "-" ? readFileSync(0, "utf8") : readFileSync(values.file, "utf8");
          spec = fromJson(AppSpecSchema, YAML.parse(text));
        } catch (e) {
          process.stderr.write(`sessiongate: ${values.file}: ${(e as Error).message}\n`);
          return EXIT.invalid;
        }
        let revision = revisionArg(values.revision);
        let app: App;
        if (revision === 0n) {
          try {
            app = await c.unary<unknown, App>("createApp", { app: spec }, timeout);
            process.stderr.write(`created app ${spec.id} at revision ${app.revision}\n`);
            print(output || "yaml", appJson(app));
            return EXIT.ok;
          } catch (e) {
            if (
              (e as grpc.ServiceError).code !== grpc.status.ALREADY_EXISTS ||
              (e as Error).message.includes("path_prefix")
            )
              throw e;
          }
          const cur = await c.unary<unknown, App>("getApp", { id: spec.id }, timeout);
          revision = cur.revision;
        }
        app = await c.unary<unknown, App>("updateApp", { app: spec, revision }, timeout);
        process.stderr.write(`updated app ${spec.id} to revision ${app.revision}\n`);
        print(output || "yaml", appJson(app));
        return EXIT.ok;
      }
      case "apply": {
        if (!values.file) throw new Usage("apps apply needs -f FILE|DIR");
        if (rest.length) throw new Usage("apps apply takes no arguments besides -f");
        return await applyCommand(c, {
          file: values.file,
          prune: Boolean(values.prune),
          dryRun: Boolean(values["dry-run"]),
          timeout: timeoutGiven ? timeout : undefined,
          output,
        });
      }
      case "list": {
        if (rest.length) throw new Usage("apps list takes no arguments");
        const res = await c.unary<unknown, ListAppsResponse>("listApps", {}, timeout);
        if (!output || output === "table") process.stdout.write(table(res.apps));
        else print(output, { revision: String(res.revision), apps: res.apps.map(appJson) });
        return EXIT.ok;
      }
      case "get": {
        const app = await c.unary<unknown, App>("getApp", { id: needId() }, timeout);
        if (output === "table") process.stdout.write(table([app]));
        else print(output || "yaml", appJson(app));
        return EXIT.ok;
      }
      case "delete": {
        const res = await c.unary<unknown, DeleteAppResponse>(
          "deleteApp",
          { id: needId(), revision: revisionArg(values.revision) },
          timeout,
        );
        process.stderr.write(`deleted app ${rest[0]} (registry revision ${res.revision})\n`);
        return EXIT.ok;
      }
      case "watch": {
        if (rest.length) throw new Usage("apps watch takes no arguments");
        const max = values.count === undefined ? Number.POSITIVE_INFINITY : Number(values.count);
        if (!(max > 0)) throw new Usage("--count: expected a positive integer");
        const stream = c.raw.watchApps({ initial: Boolean(values.initial) }, c.metadata());
        return await new Promise<number>((resolve, reject) => {
          let n = 0;
          stream.on("data", (e: AppEvent) => {
            process.stdout.write(
              `${JSON.stringify(toJson(AppEventSchema, e, { useProtoFieldName: true }))}\n`,
            );
            if (++n >= max) {
              stream.cancel();
              resolve(EXIT.ok);
            }
          });
          stream.on("error", (e: grpc.ServiceError) =>
            e.code === grpc.status.CANCELLED ? resolve(EXIT.ok) : reject(e),
          );
          stream.on("end", () => resolve(EXIT.ok));
        });
      }
      default:
        throw new Usage(`unknown command apps ${cmd}`);
    }
  } finally {
    c.close();
  }
}

if (process.argv[1] && /sessiongate(\.js)?$|cli\/main\.(ts|js)$/.test(process.argv[1])) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error & { code?: number; details?: string }) => {
      if (
        e instanceof Usage ||
        (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
        (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL" ||
        (e as NodeJS.ErrnoException).code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE"
      ) {
        process.stderr.write(`sessiongate: ${e.message}\n(see sessiongate --help)\n`);
        process.exit(EXIT.usage);
      }
      if (typeof e.code === "number" && e.details !== undefined) {
        process.stderr.write(`sessiongate: server refused: ${grpc.status[e.code]}: ${e.details}\n`);
        process.exit(exitFor(e.code));
      }
      process.stderr.write(`sessiongate: ${e.stack ?? e.message}\n`);
      process.exit(EXIT.error);
    },
  );
}
