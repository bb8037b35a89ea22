// sessiongate BFF command line. Exit codes: 0 ok (clean shutdown), 2 bad config, 1 runtime error.
import { parseArgs } from "node:util";
import { loadConfigFile } from "./config/load.js";
import { ConfigError } from "./config/schema.js";
import { startBff } from "./index.js";
import { createLogger } from "./log.js";

const HELP = `Usage: sessiongate-bff --config <file.yaml|file.json>

The sessiongate Backend-For-Frontend: OIDC login/logout, Redis sessions, and the
internal token endpoint used by the session-to-token Envoy filter; /metrics,
/healthz and /readyz on the admin listener (admin.listen).

Options:
  -c, --config <file>   YAML or JSON configuration (see bff/README.md)
      --check           validate the configuration and exit
  -h, --help            show this help

Exit codes: 0 ok, 1 runtime error, 2 invalid configuration (the field is named).
`;

async function main(): Promise<number> {
  let args: ReturnType<
    typeof parseArgs<{
      options: {
        config: { type: "string"; short: string };
        check: { type: "boolean" };
        help: { type: "boolean"; short: string };
      };
    }>
  >;
  try {
    args = parseArgs({
      options: {
        config: { type: "string", short: "c" },
        check: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (!args.values.config) {
    process.stderr.write(`--config is required\n\n${HELP}`);
    return 2;
  }
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(args.values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.stderr.write(
        `${JSON.stringify({ level: 50, msg: "invalid config", field: err.field, error: err.message })}\n`,
      );
      return 2;
    }
    throw err;
  }
  if (args.values.check) {
    process.stdout.write("config ok\n");
    return 0;
  }
  const log = createLogger(config.logLevel);
  process.on("unhandledRejection", (err) =>
    log.error({ err: (err as Error)?.message }, "unhandled rejection"),
  );
  const bff = await startBff(config, { logger: log });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ sig }, "shutting down");
      resolve();
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  await bff.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${JSON.stringify({ level: 60, msg: "fatal", error: (err as Error)?.message })}\n`);
    process.exit(1);
  },
);
