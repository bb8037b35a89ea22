// Entry point of the control plane: `tsx xds-server/main.ts --help`.
import { ConfigError, helpText, parseConfig } from "./config.js";
import { IdentityError } from "./identity/spiffe.js";
import { startServer } from "./server.js";

async function main(): Promise<number> {
  let cfg: ReturnType<typeof parseConfig>;
  try {
    cfg = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError || (e as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`sessiongate-xds-server: ${(e as Error).message}\n(see --help)\n`);
      return 2;
    }
    throw e;
  }
  if (cfg === "help") {
    process.stdout.write(helpText());
    return 0;
  }
  let srv: Awaited<ReturnType<typeof startServer>>;
  try {
    srv = await startServer(cfg);
  } catch (e) {
    if (e instanceof IdentityError) {
      process.stderr.write(`sessiongate-xds-server: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      srv.log.info({ sig }, "stopping");
      srv.stop().then(resolve, resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`sessiongate-xds-server: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
