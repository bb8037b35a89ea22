// Runs a bad-input campaign at full size and prints its figures as JSON.
//   npx tsx test/badinput/run.ts registration [--n 10000] [--seed S]
//   npx tsx test/badinput/run.ts headers [--n 1000000] [--seed S]
// Exit codes: 0 no violation, 1 violations found, 2 usage error.
import { parseArgs } from "node:util";
import pino from "pino";
import { stopAll } from "../harness/index.js";
import { type CampaignFigures, runHeaderFuzzCampaign, runRegistrationCampaign } from "./campaigns.js";

const HELP = `usage: npx tsx test/badinput/run.ts <registration|headers|all> [--n N] [--seed S]

  registration  N malformed registration calls against a real xds-server + Redis (default 10,000)
  headers       N fuzzed header sets through the filter in the Node proxy-wasm host (default 1,000,000)
  all           both, at their defaults (--n applies to each)

Prints the figures as JSON on stdout, progress as pino JSON on stderr.
Exit codes: 0 no violation, 1 violations found, 2 usage error.`;

const log = pino({ base: { svc: "badinput" } }, pino.destination(2));

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { n: { type: "string" }, seed: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  const which = positionals[0];
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (!which || !["registration", "headers", "all"].includes(which)) {
    process.stderr.write(`${HELP}\n`);
    return 2;
  }
  const n = values.n === undefined ? undefined : Number(values.n);
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if ((n !== undefined && !(n > 0)) || (seed !== undefined && !Number.isInteger(seed))) {
    process.stderr.write(`--n must be > 0 and --seed an integer\n${HELP}\n`);
    return 2;
  }
  const say = (msg: string) => log.info(msg);
  const out: CampaignFigures[] = [];
  if (which !== "headers") out.push(await runRegistrationCampaign({ n: n ?? 10_000, seed, log: say }));
  if (which !== "registration") out.push(await runHeaderFuzzCampaign({ n: n ?? 1_000_000, seed, log: say }));
  process.stdout.write(`${JSON.stringify(out.length === 1 ? out[0] : out, null, 2)}\n`);
  return out.some((f) => f.violationCount > 0) ? 1 : 0;
}

main().then(
  async (code) => {
    await stopAll(code !== 0);
    process.exit(code);
  },
  async (err) => {
    log.error({ err: err instanceof Error ? err.message : String(err) }, "campaign failed");
    await stopAll(true);
    process.exit(2);
  },
);
