// `npm run demo`: the CLI around startDemoStack (test/demo/stack.ts).
// Exit codes: 0 stopped by Ctrl-C/SIGTERM, 1 start-up failure, 2 bad option,
// 3 Redis unavailable (the BFF cannot run without it).
import { parseArgs } from "node:util";
// Not the harness index: it loads oidc-provider, which warns about the Node
// version even when an external provider is used.
import { stopAll } from "../harness/cleanup.js";
import { demoAppsFromArgs } from "./apps.js";
import { type DemoAppOptions, DemoError, startDemoStack } from "./stack.js";

const USAGE = `Usage: npm run demo [-- --port N] [-- --app [GROUP/]ID[:MODE] ...] [-- --group GROUP] [-- --help]

Starts the sessiongate demo on this machine: Redis, a demo OpenID Provider, the
BFF, the xds-server, a demo SPA + API and Envoy (configured only over ADS by the
xds-server), and registers the demo app through the registration API. Prints the
URL to open and the test user. Ctrl-C stops everything.

Options:
  --port N         gateway port (env DEMO_PORT; default 8080 if free, else a free port)
  --cache-ttl S    wasm token-cache bound in seconds: a logout reaches the edge within it (default 5)
  --app ID[:MODE]  an app on the gateway, MODE bff (default) or tokenExchange. Repeat it for
                   several (micro-frontends): each then gets host ID.localhost, and always its
                   own OP client, cookie and upstream. Default: one bff app "demo" on localhost.
  --app GROUP/ID[:MODE]
                   an app of the app group GROUP, under /ID on one host with the group's other
                   apps: one OP client and one redirect URI for the whole group, its own
                   session, cookie and API audience; a sign-in to one signs the others in
                   without a prompt, a sign-out of one ends them all.
  --group GROUP    also a shell for GROUP at / (an app GROUP of the group), e.g.
                   --group shop --app shop/cart --app shop/catalog
  -h, --help       this text

External provider instead of the demo OP (see test/demo/README.md):
  DEMO_ISSUER, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_AUDIENCE,
  DEMO_JWKS_URI, DEMO_JWT_ISSUER, DEMO_SCOPES, DEMO_AUTH_PARAMS (JSON)
Other: DEMO_LOG_LEVEL (BFF log level, default warn), REDIS_SERVER_BIN, CHROMIUM_BIN.

Exit codes: 0 stopped, 1 start-up failure, 2 bad option, 3 no Redis.
`;

const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function main(): Promise<void> {
  let values: { port?: string; "cache-ttl"?: string; app?: string[]; group?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string" },
        "cache-ttl": { type: "string" },
        app: { type: "string", multiple: true },
        group: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  const cacheTtl = values["cache-ttl"] === undefined ? undefined : Number(values["cache-ttl"]);
  if (
    (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) ||
    (cacheTtl !== undefined && !(Number.isInteger(cacheTtl) && cacheTtl >= 1))
  ) {
    process.stderr.write(`demo: --port must be a port, --cache-ttl a whole number of seconds\n\n${USAGE}`);
    process.exit(2);
  }
  let apps: DemoAppOptions[] | undefined;
  try {
    apps = demoAppsFromArgs(values.app, values.group);
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping the demo…`);
    await stopAll(false);
    say("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  say("sessiongate demo: starting the local stack…");
  const stack = await startDemoStack({ port, cacheMaxTtlS: cacheTtl, apps, log: say });
  say("");
  say("  ┌──────────────────────────────────────────────────────────────");
  for (const app of stack.apps) {
    const label =
      stack.apps.length > 1 ? ` (app ${app.id}, ${app.mode}${app.group ? `, group ${app.group}` : ""})` : "";
    say(`  │ Open      ${app.url}${label}`);
    say("  │           (the SPA; its Log in button goes through the BFF to the provider)");
  }
  if (stack.user) say(`  │ Log in as ${stack.user.username} / ${stack.user.password}`);
  else say("  │ Log in with a user of your provider");
  say(
    `  │ CLI       SESSIONGATE_SERVER=${stack.xds.apiAddress} SESSIONGATE_TOKEN=${stack.xds.token} npx sessiongate apps list`,
  );
  say("  └──────────────────────────────────────────────────────────────");
  say("Ctrl-C stops everything.");
}

main().catch(async (err) => {
  const code = err instanceof DemoError ? err.exitCode : 1;
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  await stopAll(true);
  process.exit(code);
});
