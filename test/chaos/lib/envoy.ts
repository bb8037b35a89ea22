// The gateway Envoy for the chaos run: envoy/gateway-ads.yaml with the ADS
// cluster pointed at both control-plane replicas, started with hot restart
// enabled (the harness's startEnvoy always passes --disable-hot-restart), so a
// restart can be a real `--restart-epoch N+1` hand-over of the listen sockets,
// or a cold one (SIGKILL, then a fresh epoch 0).
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  envoyBin,
  freePort,
  LOG_DIR,
  type ManagedProcess,
  onCleanup,
  REPO_ROOT,
  renderTemplate,
  StopWaiting,
  startProcess,
  waitFor,
} from "../../harness/index.js";

export const GATEWAY_ADS_YAML = join(REPO_ROOT, "envoy", "gateway-ads.yaml");

/** Seconds the old epoch drains, and after which the new one shuts it down. */
export const DRAIN_S = 2;
export const PARENT_SHUTDOWN_S = 4;

/** gateway-ads.yaml with a second ADS endpoint `{{XDS_PORT_2}}` (same host). */
export function twoReplicaBootstrap(source = readFileSync(GATEWAY_ADS_YAML, "utf8")): string {
  const re =
    /( *- endpoint:\n *address:\n *socket_address: \{ address: "\{\{XDS_HOST\}\}", port_value: )\{\{XDS_PORT\}\}( \}\n)/;
  const m = re.exec(source);
  if (!m)
    throw new Error(`${GATEWAY_ADS_YAML}: the ADS endpoint block is not where the chaos run expects it`);
  return source.replace(re, () => `${m[0]}${m[1]}{{XDS_PORT_2}}${m[2]}`);
}

export interface ChaosEnvoy {
  port: number;
  epoch: number;
  proc(): ManagedProcess;
  adminUrl(): string;
  /** `--restart-epoch N+1`: the new process takes the listeners, the old one drains and exits. */
  hotRestart(): Promise<void>;
  kill(): Promise<void>;
  /** A fresh epoch-0 process (after kill()). */
  start(): Promise<void>;
  stats(): Promise<Map<string, number>>;
}

export async function startChaosEnvoy(o: {
  xdsPorts: [number, number];
  nodeId: string;
}): Promise<ChaosEnvoy> {
  const port = await freePort();
  const template = twoReplicaBootstrap();
  let epoch = 0;
  let baseId = 0;
  let current: ManagedProcess | undefined;
  let admin = "";
  const baseIdFile = join(LOG_DIR, `chaos-envoy-base-id-${process.pid}-${port}`);

  const launch = async (e: number): Promise<void> => {
    const adminPort = await freePort();
    const config = join(LOG_DIR, `chaos-envoy-${port}-epoch${e}.yaml`);
    onCleanup(() => rmSync(config, { force: true }));
    writeFileSync(
      config,
      renderTemplate(template, {
        ADMIN_PORT: adminPort,
        NODE_ID: o.nodeId,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: o.xdsPorts[0],
        XDS_PORT_2: o.xdsPorts[1],
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: port,
      }),
    );
    const restartArgs =
      e === 0
        ? ["--use-dynamic-base-id", "--base-id-path", baseIdFile]
        : ["--base-id", String(baseId), "--restart-epoch", String(e)];
    const proc = await startProcess({
      name: `chaos-envoy-epoch${e}`,
      cmd: envoyBin(),
      args: [
        "-c",
        config,
        "--concurrency",
        "1",
        "--log-level",
        "warning",
        "--drain-time-s",
        String(DRAIN_S),
        "--parent-shutdown-time-s",
        String(PARENT_SHUTDOWN_S),
        ...restartArgs,
      ],
      ready: { port: adminPort },
      readyTimeoutMs: 30_000,
    });
    const url = `http://127.0.0.1:${adminPort}`;
    await waitFor(
      `envoy epoch ${e} /ready`,
      async () => {
        if (proc.exited()) throw new StopWaiting(`envoy epoch ${e} exited; log ${proc.logFile}`);
        return (await (await fetch(`${url}/ready`)).text()).trim() === "LIVE";
      },
      30_000,
    );
    if (e === 0) baseId = Number(readFileSync(baseIdFile, "utf8").trim());
    current = proc;
    admin = url;
    epoch = e;
  };

  // Registered before any epoch starts, so it runs after they are stopped.
  onCleanup(() => {
    removeSharedMemory(baseId);
    rmSync(baseIdFile, { force: true });
  });
  await launch(0);
  const handle: ChaosEnvoy = {
    port,
    get epoch() {
      return epoch;
    },
    proc: () => current!,
    adminUrl: () => admin,
    hotRestart: () => launch(epoch + 1),
    kill: async () => {
      await current?.kill();
      removeSharedMemory(baseId);
    },
    start: () => launch(0),
    stats: async () => {
      const body = (await (await fetch(`${admin}/stats?format=json`)).json()) as {
        stats: Array<{ name?: string; value?: number }>;
      };
      const m = new Map<string, number>();
      for (const s of body.stats) if (s.name && typeof s.value === "number") m.set(s.name, s.value);
      return m;
    },
  };
  return handle;
}

/** Envoy leaves its hot-restart shared memory behind when killed (and at times when stopped). */
function removeSharedMemory(baseId: number): void {
  for (const name of [`envoy_shared_memory_${baseId * 10}`, `envoy_shared_memory_${baseId}`]) {
    const f = join("/dev/shm", name);
    if (existsSync(f)) rmSync(f, { force: true });
  }
}
