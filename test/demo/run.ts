// `npm run demo`: the local stack. Placeholder until the BFF and control plane
// land: starts what exists (Redis, the demo OP, Envoy with the wasm filter in
// front of a demo API) and says what is missing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  startOP,
  startRedis,
  stopAll,
} from "../harness/index.js";

const say = (msg: string) => process.stdout.write(`${msg}\n`);

async function main() {
  say("sessiongate demo: starting the local stack…");
  const redis = await startRedis();
  say(`  redis        ${redis.url}`);
  const op = await startOP({ clients: [] });
  say(`  identity     ${op.issuer} (user alice / wonderland)`);
  const api = await startEcho({ name: "demo-api" });
  say(`  demo API     ${api.url}`);
  const listenPort = Number(process.env.DEMO_PORT ?? (await freePort()));
  const yaml = readFileSync(join(REPO_ROOT, "test/foundation/echo.envoy.yaml"), "utf8");
  const envoy = await startEnvoy({
    yaml,
    vars: { LISTEN_PORT: listenPort, ECHO_PORT: api.port, HTTP_FILTERS: "" },
    name: "demo-envoy",
  });
  say(`  envoy        http://127.0.0.1:${listenPort} (admin ${envoy.adminUrl})`);
  say("Not yet part of the stack: BFF, xds-server (see README). Ctrl-C stops everything.");
  const stop = async () => {
    say("stopping…");
    await stopAll(false);
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch(async (err) => {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
  await stopAll(true);
  process.exit(1);
});
