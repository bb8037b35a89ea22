// `npx tsx test/bench/ondemand-memory.ts [--apps 10000] [--served 100] [--unknown 2000]`:
// Envoy's RSS with on-demand virtual hosts (test/bench/lib/ondemand-memory.ts).
// Prints one JSON object on stdout, progress on stderr.
// Exit codes: 0 measured, 1 the measurement failed, 2 bad arguments.
import { parseArgs } from "node:util";
import { stopAll } from "../harness/index.js";
import { measureOnDemandMemory } from "./lib/ondemand-memory.js";
import { cpuPlan } from "./lib/pin.js";

const HELP = `Usage: npx tsx test/bench/ondemand-memory.ts [options]

Registers --apps apps (in-memory registry), connects one real Envoy gateway
(envoy/gateway-ads.yaml: Delta ADS, virtual hosts on demand), requests
--served of the hosts through it and reports Envoy's RSS, the first (cold)
and second (warm) request latency, and Envoy's RSS growth per distinct
unknown host (--unknown of them). Goal (issue 14): Envoy RSS <= 150 MiB at
10,000 registered apps with 100 served.

Options:
  --apps <n>      apps registered (default 10000)
  --served <n>    hosts requested through Envoy (default 100)
  --unknown <n>   distinct unknown hosts requested afterwards (default 2000; 0 skips)
  -h, --help      show this help

Exit codes: 0 measured, 1 the measurement failed, 2 bad arguments.
`;

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        apps: { type: "string", default: "10000" },
        served: { type: "string", default: "100" },
        unknown: { type: "string", default: "2000" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [apps, served, unknownHosts] = [values.apps, values.served, values.unknown].map(Number);
  if (
    ![apps, served, unknownHosts].every(Number.isInteger) ||
    apps < 1 ||
    served < 1 ||
    served > apps ||
    unknownHosts < 0
  ) {
    process.stderr.write(
      `bad numbers: --apps ${values.apps} --served ${values.served} --unknown ${values.unknown}\n\n${HELP}`,
    );
    return 2;
  }
  let ok = false;
  try {
    const r = await measureOnDemandMemory({
      apps,
      served,
      unknownHosts,
      cpus: cpuPlan(),
      progress: (l) => process.stderr.write(`ondemand-memory: ${l}\n`),
    });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    ok = true;
    return 0;
  } catch (e) {
    process.stderr.write(`ondemand-memory: failed: ${(e as Error).stack ?? e}\n`);
    return 1;
  } finally {
    await stopAll(!ok);
  }
}

process.exitCode = await main();
