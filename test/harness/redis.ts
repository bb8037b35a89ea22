import { existsSync } from "node:fs";
import { freePort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

export interface RedisHandle {
  url: string;
  port: number;
  /** Graceful stop. */
  stop(): Promise<void>;
  /** SIGKILL, for outage tests; `restart()` brings it back on the same port. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export function redisBin(): string {
  const bin = process.env.REDIS_SERVER_BIN ?? "/usr/bin/redis-server";
  if (!existsSync(bin)) {
    throw new Error(
      `redis-server not found at ${bin}: install Debian's redis-server (bash .ci/run does) or set REDIS_SERVER_BIN`,
    );
  }
  return bin;
}

export interface RedisOptions {
  port?: number;
  password?: string;
  /**
   * Append-only persistence in `dir`, so a SIGKILL + restart() keeps the data
   * (fault tests that must lose nothing). `fsync: "always"` (default) loses no
   * acknowledged write; "everysec" may lose the last second, like most deployments.
   */
  persistence?: { dir: string; fsync?: "always" | "everysec" };
}

export async function startRedis(opts: RedisOptions = {}): Promise<RedisHandle> {
  if (process.env.SESSIONGATE_HARNESS === "containers") {
    if (opts.persistence) throw new Error("startRedis: persistence is not available with containers");
    const { startRedisContainer } = await import("./containers.js");
    return startRedisContainer();
  }
  const port = opts.port ?? (await freePort());
  const bin = redisBin();
  // By default no persistence: a restart after kill() is an empty Redis, which is
  // what an outage of a cache-only deployment looks like. `persistence` keeps the
  // data across kill() + restart().
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
    "--protected-mode",
    "yes",
  ];
  if (opts.password) args.push("--requirepass", opts.password);
  if (opts.persistence) {
    // Later arguments win in redis-server's command line: AOF on, in a data dir of the caller's.
    args.push("--appendonly", "yes", "--appendfsync", opts.persistence.fsync ?? "always");
    args.push("--dir", opts.persistence.dir);
  }
  let proc: ManagedProcess | undefined;
  const launch = async () => {
    proc = await startProcess({ name: `redis-${port}`, cmd: bin, args, ready: { port } });
  };
  await launch();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    url: `redis://${auth}127.0.0.1:${port}`,
    port,
    stop: async () => proc?.stop(),
    kill: async () => proc?.kill(),
    restart: async () => {
      await proc?.stop();
      await launch();
    },
  };
}
