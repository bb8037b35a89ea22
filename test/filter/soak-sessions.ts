// Soak script (not a test): pushes N distinct sessions through a real Envoy
// running session-to-token and reports Envoy's RSS as it goes. The cache is a
// fixed table of slots, so RSS must level off instead of growing with N.
//   npx tsx test/filter/soak-sessions.ts [--sessions 100000] [--slots 16384] [--concurrency 64]
import { Agent, request } from "node:http";
import { parseArgs } from "node:util";
import { startTokenServer } from "../fixtures/token-server.js";
import { freePort, startEcho, startEnvoy, stopAll } from "../harness/index.js";
import { COOKIE, filterConfig } from "./envoy-fixture.js";
import { ensureWasm } from "./wasm-build.js";

const { values: args } = parseArgs({
  options: {
    sessions: { type: "string", default: "100000" },
    slots: { type: "string", default: "16384" },
    concurrency: { type: "string", default: "64" },
    help: { type: "boolean", short: "h" },
  },
});
if (args.help) {
  process.stdout.write(
    "usage: tsx test/filter/soak-sessions.ts [--sessions N] [--slots N] [--concurrency N]\n" +
      "Reports Envoy RSS (MiB) before and after N distinct sessions; exit 1 on request errors.\n",
  );
  process.exit(0);
}
const N = Number(args.sessions);
const SLOTS = Number(args.slots);
const CONC = Number(args.concurrency);

const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;

async function main(): Promise<number> {
  ensureWasm();
  const echo = await startEcho();
  echo.requests.length = 0;
  const bff = await startTokenServer();
  bff.acceptAny = true;
  const port = await freePort();
  const envoy = await startEnvoy({
    file: "envoy/wasm-filter.yaml",
    name: "envoy-soak",
    concurrency: 2,
    logLevel: "warn",
    vars: {
      LISTEN_PORT: port,
      ECHO_PORT: echo.port,
      BFF_PORT: bff.port,
      FILTER_CONFIG: filterConfig({
        bff_timeout_ms: 2000,
        cache: { slots: SLOTS, skew_s: 5, max_ttl_s: 300 },
      }),
    },
  });
  const agent = new Agent({ keepAlive: true, maxSockets: CONC });
  let bad = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const sid = `soak${i.toString(36)}`.padEnd(43, "Q");
      const r = request(
        { host: "127.0.0.1", port, path: "/soak", agent, headers: { cookie: `${COOKIE}=${sid}` } },
        (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode !== 200) bad++;
            resolve();
          });
        },
      );
      r.on("error", () => {
        bad++;
        resolve();
      });
      r.end();
    });
  const runBatch = async (from: number, to: number) => {
    let next = from;
    await Promise.all(
      Array.from({ length: CONC }, async () => {
        while (next < to) await one(next++);
      }),
    );
    echo.requests.length = 0; // keep the echo's own memory flat
    bff.requests.length = 0;
  };
  await runBatch(0, 1000); // warm-up: VMs, connection pools
  const rows: { sessions: number; rssMiB: number }[] = [{ sessions: 1000, rssMiB: mib(envoy.rssBytes()) }];
  const t0 = Date.now();
  for (const mark of [10_000, 25_000, 50_000, 75_000, 100_000, N].filter(
    (m, i, a) => m <= N && a.indexOf(m) === i,
  )) {
    await runBatch(rows.at(-1)!.sessions, mark);
    rows.push({ sessions: mark, rssMiB: mib(envoy.rssBytes()) });
    process.stdout.write(`${mark} sessions: Envoy RSS ${rows.at(-1)!.rssMiB} MiB\n`);
  }
  const secs = (Date.now() - t0) / 1000;
  const stats = await envoy.stats();
  const report = {
    sessions: N,
    slots: SLOTS,
    concurrency: CONC,
    seconds: secs,
    requestErrors: bad,
    rss: rows,
    growthAfterSlotsFilledMiB:
      Math.round(
        (rows.at(-1)!.rssMiB - (rows.find((r) => r.sessions >= SLOTS * 2)?.rssMiB ?? rows[0].rssMiB)) * 10,
      ) / 10,
    misses: stats.get("wasmcustom.session_to_token.misses"),
    hits: stats.get("wasmcustom.session_to_token.hits"),
    bffErrors: stats.get("wasmcustom.session_to_token.bff_errors"),
  };
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  agent.destroy();
  await bff.stop();
  return bad === 0 ? 0 : 1;
}

main()
  .then(async (code) => {
    await stopAll(code !== 0);
    process.exit(code);
  })
  .catch(async (err) => {
    process.stderr.write(`soak failed: ${(err as Error).stack}\n`);
    await stopAll(true);
    process.exit(2);
  });
