// The same harness API backed by testcontainers, chosen with
// SESSIONGATE_HARNESS=containers where a Docker engine is reachable. Containers
// use host networking so that loopback addresses in the test's YAML work
// unchanged. Not available on machines without Docker (CI here has none).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LOG_DIR, onCleanup } from "./cleanup.js";
import type { EnvoyHandle, EnvoyOptions } from "./envoy.js";
import { freePort, waitFor } from "./ports.js";
import type { ManagedProcess } from "./process.js";
import type { RedisHandle } from "./redis.js";
import { renderTemplate } from "./template.js";

const ENVOY_IMAGE = process.env.ENVOY_IMAGE ?? "envoyproxy/envoy:v1.40.0";
const REDIS_IMAGE = process.env.REDIS_IMAGE ?? "redis:7-alpine";

async function tc() {
  try {
    return await import("testcontainers");
  } catch (err) {
    throw new Error(`SESSIONGATE_HARNESS=containers needs testcontainers: ${(err as Error).message}`);
  }
}

export async function startRedisContainer(): Promise<RedisHandle> {
  const { GenericContainer, Wait } = await tc();
  const port = await freePort();
  const make = () =>
    new GenericContainer(REDIS_IMAGE)
      .withNetworkMode("host")
      .withCommand(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", ""])
      .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
      .start();
  let container = await make();
  onCleanup(() => container.stop().then(() => undefined));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await container.stop();
    },
    kill: async () => {
      await container.stop({ timeout: 0 });
    },
    restart: async () => {
      await container.stop();
      container = await make();
    },
  };
}

export async function startEnvoyContainer(opts: EnvoyOptions): Promise<EnvoyHandle> {
  const { GenericContainer } = await tc();
  const adminPort = await freePort();
  const yaml = opts.yaml ?? "";
  const rendered = renderTemplate(yaml, {
    ADMIN_PORT: adminPort,
    WASM_PATH: "/etc/sessiongate/session-to-token.wasm",
    ...opts.vars,
  });
  const configPath = join(LOG_DIR, `envoy-container-${adminPort}.yaml`);
  writeFileSync(configPath, rendered);
  const container = await new GenericContainer(ENVOY_IMAGE)
    .withNetworkMode("host")
    .withCopyFilesToContainer([
      { source: configPath, target: "/etc/envoy/envoy.yaml" },
      {
        source: join(import.meta.dirname, "../../build/session-to-token.wasm"),
        target: "/etc/sessiongate/session-to-token.wasm",
      },
    ])
    .withCommand(["envoy", "-c", "/etc/envoy/envoy.yaml", "--concurrency", String(opts.concurrency ?? 1)])
    .start();
  onCleanup(() => container.stop().then(() => undefined));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitFor(
    "envoy container /ready",
    async () => (await (await fetch(`${adminUrl}/ready`)).text()).trim() === "LIVE",
  );
  const unsupported = () => {
    throw new Error("not available for containers");
  };
  return {
    adminUrl,
    adminPort,
    configPath,
    proc: { name: "envoy-container", pid: -1, logFile: configPath } as unknown as ManagedProcess,
    stats: async () => {
      const body = (await (await fetch(`${adminUrl}/stats?format=json`)).json()) as {
        stats: Array<{ name?: string; value?: number }>;
      };
      return new Map(
        body.stats.filter((s) => typeof s.value === "number").map((s) => [s.name ?? "", s.value ?? 0]),
      );
    },
    configDump: async () => (await fetch(`${adminUrl}/config_dump`)).json(),
    rssBytes: unsupported,
    stop: async () => {
      await container.stop();
    },
    kill: async () => {
      await container.stop({ timeout: 0 });
    },
  };
}
