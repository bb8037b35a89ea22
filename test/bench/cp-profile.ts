// `npx tsx test/bench/cp-profile.ts [--apps N] [--registrations M] [--out DIR] [--redis]`:
// where the xds-server's CPU goes per one-app registration. The server runs in
// this process (memory registry, or Redis with --redis) with one real Envoy
// gateway connected (envoy/gateway-ads.yaml: Delta ADS, virtual hosts on
// demand), the apps are applied (ApplyApps, 1,000 per call), then M
// registrations are timed until served (CreateApp, then Envoy probed every
// ms, as the bench's control-plane group does) under V8's CPU profiler.
// Writes DIR/registrations.cpuprofile (open it in Chrome DevTools) and prints
// the time per registration and the functions it went to (self and total
// time, per registration). The probes and the API client run in this process
// too: their time is listed under test/bench and node's http/grpc client code.
// Exit codes: 0 measured, 1 the measurement failed, 2 bad arguments.
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { loadavg } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { connect } from "../../xds-server/cli/client.js";
import { startServer } from "../../xds-server/server.js";
import { freePort, REPO_ROOT, startEnvoy, startRedis, stopAll, WASM_PATH } from "../harness/index.js";
import {
  API_TOKEN,
  appHost,
  applyApps,
  type ControlPlane,
  register,
  startJwksServer,
  untilServed,
} from "./lib/control-plane.js";

const HELP = `Usage: npx tsx test/bench/cp-profile.ts [options]

Options:
  --apps <n>            apps applied before the registrations (default 10000)
  --registrations <n>   one-app registrations profiled (default 30)
  --out <dir>           where registrations.cpuprofile goes (default /tmp/cp-profile)
  --redis               Redis registry (a fresh redis-server) instead of the in-memory one
  --top <n>             functions listed (default 30)
  -h, --help            show this help

Exit codes: 0 measured, 1 the measurement failed, 2 bad arguments.
`;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const where = (n: ProfileNode) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const file = url.startsWith("file://") ? relative(REPO_ROOT, url.slice(7)) : url || "(native)";
  return `${functionName || "(anonymous)"} ${file}:${lineNumber + 1}`;
};

/** Self and total (inclusive) ms per function, and ms per xds-server file (self). */
export function summarize(p: Profile) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    let id: number | undefined = p.samples[i];
    const leaf = byId.get(id)!;
    const k = where(leaf);
    self.set(k, (self.get(k) ?? 0) + ms);
    const file = k.slice(k.indexOf(" ") + 1).replace(/:\d+$/, "");
    byFile.set(file, (byFile.get(file) ?? 0) + ms);
    const seen = new Set<string>();
    while (id !== undefined) {
      const f = where(byId.get(id)!);
      if (!seen.has(f)) {
        seen.add(f);
        total.set(f, (total.get(f) ?? 0) + ms);
      }
      id = parent.get(id);
    }
  }
  return { self, total, byFile };
}

async function main(): Promise<number> {
  let o: { apps: number; regs: number; out: string; redis: boolean; top: number };
  try {
    const { values } = parseArgs({
      options: {
        apps: { type: "string" },
        registrations: { type: "string" },
        out: { type: "string" },
        redis: { type: "boolean" },
        top: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    o = {
      apps: Number(values.apps ?? 10_000),
      regs: Number(values.registrations ?? 30),
      out: values.out ?? "/tmp/cp-profile",
      redis: Boolean(values.redis),
      top: Number(values.top ?? 30),
    };
    if (![o.apps, o.regs, o.top].every((x) => Number.isInteger(x) && x > 0))
      throw new Error("counts must be positive integers");
  } catch (e) {
    process.stderr.write(`cp-profile: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const redis = o.redis ? await startRedis() : undefined;
  const jwks = await startJwksServer();
  const srv = await startServer(
    {
      xds: { address: "127.0.0.1", port: 0 },
      api: { address: "127.0.0.1", port: 0 },
      http: { address: "127.0.0.1", port: 0 },
      wasmFetchHost: "127.0.0.1",
      wasmFile: WASM_PATH,
      apiTokens: [API_TOKEN],
      xdsInsecure: true,
      ...(redis ? { redisUrl: redis.url } : {}),
      redisPrefix: "sg:",
      bff: {
        publicAddr: { host: "127.0.0.1", port: 3000 },
        internalAddr: { host: "127.0.0.1", port: 3001 },
        prefix: "/auth",
        authority: "sessiongate-bff",
        internalKey: "",
        timeoutMs: 2000,
      },
      cache: { enabled: true, slots: 16384, skewS: 10, maxTtlS: 30 },
      gateway: { address: "127.0.0.1", port: 10000 },
      logLevel: "warn",
    },
    pino({ level: "warn" }),
  );
  const client = connect(`127.0.0.1:${srv.apiPort}`, API_TOKEN);
  const cp = { client } as unknown as ControlPlane;
  try {
    const gwPort = await freePort();
    await startEnvoy({
      file: join(REPO_ROOT, "envoy", "gateway-ads.yaml"),
      name: "profile-gateway",
      logLevel: "warning",
      vars: {
        NODE_ID: "profile-gw",
        XDS_HOST: "127.0.0.1",
        XDS_PORT: srv.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        LISTENER_PORT: gwPort,
      },
    });
    const ids = Array.from({ length: o.apps }, (_, i) => `app-${i}`);
    const applyS = await applyApps(cp, ids, jwks, (n) => say(`applied ${n}/${o.apps}`));
    if (!Number.isFinite(await untilServed(gwPort, appHost(ids.at(-1)!), 120_000)))
      throw new Error("the last applied app was never served");
    say(`applied ${o.apps} apps in ${applyS.toFixed(1)} s; warming up`);
    const once = async (id: string) => {
      const t0 = performance.now();
      await register(cp, id, jwks);
      const t1 = await untilServed(gwPort, appHost(id), 10_000);
      if (!Number.isFinite(t1)) throw new Error(`${id} was never served`);
      return t1 - t0;
    };
    for (let i = 0; i < 3; i++) await once(`warm-${i}`);
    const session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    const lat: number[] = [];
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    await session.post("Profiler.start");
    for (let i = 0; i < o.regs; i++) lat.push(await once(`prof-${i}`));
    const { profile } = (await session.post("Profiler.stop")) as unknown as { profile: Profile };
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(cpu0);
    session.disconnect();
    mkdirSync(o.out, { recursive: true });
    const file = join(o.out, "registrations.cpuprofile");
    writeFileSync(file, JSON.stringify(profile));
    lat.sort((a, b) => a - b);
    const per = (ms: number) => (ms / o.regs).toFixed(2);
    const { self, total, byFile } = summarize(profile);
    const top = (m: Map<string, number>) =>
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, o.top)
        .map(([k, v]) => `  ${per(v).padStart(8)}  ${k}`)
        .join("\n");
    process.stdout.write(
      [
        `${o.apps} apps, ${o.redis ? "Redis" : "memory"} registry, 1 Envoy (on demand), ${o.regs} registrations; load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(" / ")}`,
        `register -> served: p50 ${lat[Math.floor(lat.length / 2)].toFixed(1)} ms, max ${lat.at(-1)!.toFixed(1)} ms; wall ${per(wall)} ms, process CPU ${per((cpu.user + cpu.system) / 1000)} ms per registration (server + API client + probes)`,
        `profile: ${file}`,
        "",
        "ms per registration, self time, by file:",
        top(byFile),
        "",
        "ms per registration, self time, by function:",
        top(self),
        "",
        "ms per registration, total time (callees included), by function:",
        top(total),
        "",
      ].join("\n"),
    );
    return 0;
  } catch (e) {
    say(`cp-profile: ${(e as Error).stack}`);
    return 1;
  } finally {
    client.close();
    await srv.stop();
    await stopAll(false);
  }
}

process.exitCode = await main();
