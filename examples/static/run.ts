// `npm run example:static`: everything examples/static/envoy.yaml talks to, on
// the ports that file names: Redis, a demo OpenID Provider (test/harness/op.ts,
// users alice/wonderland and bob/builder), the BFF (bff.yaml) and the demo
// SPA+API (test/demo/server.ts). Then run Envoy yourself:
//   .venv/bin/envoy -c examples/static/envoy.yaml
// or pass --envoy to have this script start it too. Ctrl-C stops everything.
// Exit codes: 0 stopped, 1 start-up failure, 2 bad option.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse } from "yaml";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { type DemoServer, startDemoServer } from "../../test/demo/server.js";
import { onCleanup, stopAll } from "../../test/harness/cleanup.js";
import { type EnvoyHandle, startEnvoy } from "../../test/harness/envoy.js";
import type { OpHandle } from "../../test/harness/op.js";
import { type RedisHandle, startRedis } from "../../test/harness/redis.js";

const DIR = import.meta.dirname;

/** The ports envoy.yaml and bff.yaml name. */
export const EXAMPLE_PORTS = {
  gateway: 8080,
  admin: 9901,
  bffPublic: 8180,
  bffInternal: 8181,
  bffAdmin: 8182,
  op: 8190,
  upstream: 8191,
} as const;
export type ExamplePorts = { -readonly [K in keyof typeof EXAMPLE_PORTS]: number };

/**
 * One of the example's files with its ports moved (tests run it on free ports);
 * with the default ports it is the file as committed.
 */
export function exampleFile(name: "envoy.yaml" | "bff.yaml", ports: ExamplePorts = EXAMPLE_PORTS): string {
  const text = readFileSync(join(DIR, name), "utf8");
  const byDefault = new Map<string, number>(
    Object.entries(EXAMPLE_PORTS).map(([k, v]) => [String(v), ports[k as keyof ExamplePorts]]),
  );
  return text.replace(/\b(8080|9901|8180|8181|8182|8190|8191)\b/g, (p) => String(byDefault.get(p)));
}

/** The filter configuration (JSON) in envoy.yaml: the BFF must use its internal key. */
export function filterConfig(envoyYaml: string): { bff_internal_key?: string } {
  const doc = parse(envoyYaml);
  const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const wasm = hcm.http_filters.find((f: { name: string }) => f.name === "envoy.filters.http.wasm");
  return JSON.parse(wasm.typed_config.config.configuration.value);
}

export interface StaticExample {
  ports: ExamplePorts;
  redis: RedisHandle;
  op: OpHandle;
  bff: RunningBff;
  upstream: DemoServer;
  envoy: EnvoyHandle | null;
}

export async function startStaticExample(
  opts: { ports?: ExamplePorts; envoy?: boolean; log?: (line: string) => void } = {},
): Promise<StaticExample> {
  const ports = opts.ports ?? { ...EXAMPLE_PORTS };
  const say = opts.log ?? (() => {});
  const envoyYaml = exampleFile("envoy.yaml", ports);
  const bffDoc = parse(exampleFile("bff.yaml", ports));
  const app = bffDoc.apps[0];
  const origin = new URL(app.redirect_uri).origin;

  const redis = await startRedis();
  say(`  redis        ${redis.url}`);
  const { startOP } = await import("../../test/harness/op.js");
  const op = await startOP({
    port: ports.op,
    clients: [
      {
        client_id: app.client_id,
        client_secret: app.client_secret,
        redirect_uris: [app.redirect_uri],
        post_logout_redirect_uris: [`${origin}/`, `${origin}/auth/${app.id}/logout/callback`],
        backchannel_logout_uri: `${origin}/auth/${app.id}/backchannel-logout`,
        backchannel_logout_session_required: true,
      },
    ],
  });
  say(`  identity     ${op.issuer} (demo OpenID Provider; JWKS ${op.jwksUri})`);

  const key = filterConfig(envoyYaml).bff_internal_key;
  if (key !== bffDoc.internal.key)
    throw new Error(
      "bff.yaml internal.key differs from bff_internal_key in envoy.yaml's filter configuration",
    );
  const bff = await startBff(
    validateConfig({
      ...bffDoc,
      log_level: process.env.EXAMPLE_LOG_LEVEL ?? bffDoc.log_level,
      redis: { url: redis.url },
      keys: { keys: { k1: randomBytes(32).toString("base64") } },
    }),
    { defaultMetrics: false },
  );
  onCleanup(() => bff.close());
  say(`  bff          public ${bff.publicUrl}, internal ${bff.internalUrl}`);

  const upstream = await startDemoServer({
    appId: app.id,
    bffPrefix: bffDoc.public.prefix,
    port: ports.upstream,
  });
  onCleanup(() => upstream.stop());
  say(`  app upstream ${upstream.url} (the SPA shell and /api/whoami)`);

  let envoy: EnvoyHandle | null = null;
  if (opts.envoy) {
    // The harness picks the admin port and writes the file it runs under test/.logs/.
    envoy = await startEnvoy({
      name: "example-static-envoy",
      yaml: envoyYaml
        .replace(`port_value: ${ports.admin}`, "port_value: {{ADMIN_PORT}}")
        .replace("filename: build/session-to-token.wasm", "filename: {{WASM_PATH}}"),
    });
    say(`  envoy        http://localhost:${ports.gateway}/ (admin ${envoy.adminUrl})`);
  }
  return { ports, redis, op, bff, upstream, envoy };
}

const USAGE = `Usage: npm run example:static [-- --envoy] [-- --help]

Starts Redis, a demo OpenID Provider (${`http://127.0.0.1:${EXAMPLE_PORTS.op}`}), the BFF
(examples/static/bff.yaml) and the demo SPA+API on the ports examples/static/envoy.yaml
names. Then, from the repository root: .venv/bin/envoy -c examples/static/envoy.yaml
(--envoy starts it too), open http://localhost:${EXAMPLE_PORTS.gateway}/ and log in as
alice / wonderland. Ctrl-C stops everything. Exit codes: 0 stopped, 1 failure, 2 bad option.
`;

async function main(): Promise<void> {
  let values: { envoy?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { envoy: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (err) {
    process.stderr.write(`example:static: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const say = (l: string) => process.stdout.write(`${l}\n`);
  const stop = async (signal: string) => {
    say(`\n${signal}: stopping…`);
    await stopAll(false);
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  say("sessiongate static example: starting…");
  await startStaticExample({ envoy: values.envoy, log: say });
  if (!values.envoy)
    say(`\nNow run, from the repository root: .venv/bin/envoy -c examples/static/envoy.yaml`);
  say(`Open http://localhost:${EXAMPLE_PORTS.gateway}/ and log in as alice / wonderland. Ctrl-C stops.`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main().catch(async (err) => {
    process.stderr.write(`example:static: ${(err as Error).message}\n`);
    await stopAll(true);
    process.exit(1);
  });
}
