// Standalone: `npx tsx test/bench/apply-10k.ts [--apps N]` — applies N apps
// (default 10,000) from a directory into a fresh xds-server on Redis and
// prints how long until they were written and until one Delta ADS client
// held every one (test/bench/lib/apply-10k.ts). Run `npm run build` first to
// time the compiled server and CLI (else both run through tsx).
import { parseArgs } from "node:util";
import { stopAll } from "../harness/index.js";
import { measureApply } from "./lib/apply-10k.js";

const { values } = parseArgs({
  options: { apps: { type: "string" }, help: { type: "boolean", short: "h" } },
});
if (values.help) {
  process.stdout.write("Usage: npx tsx test/bench/apply-10k.ts [--apps N]   (default 10000)\n");
  process.exit(0);
}
const apps = Number(values.apps ?? 10_000);
if (!Number.isInteger(apps) || apps < 1) {
  process.stderr.write("--apps: expected a positive integer\n");
  process.exit(2);
}
try {
  const f = await measureApply({ apps, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
  process.stderr.write(
    `${f.apps} apps: written in ${f.writtenS.toFixed(2)} s, every app served in ${f.servedS.toFixed(2)} s ` +
      `(goal <= 20 s), ${f.discoveryFetches} discovery fetch(es), ${f.revisions} registry revision(s), ` +
      `load average ${f.loadAvg.join(" ")}\n`,
  );
} catch (e) {
  process.stderr.write(`apply bench failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await stopAll(false);
}
