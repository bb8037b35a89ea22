// `npx tsx test/bench/cp-inprocess.ts [--apps N] [--streams S] [--changes C]`:
// the control plane's own cost of a one-app change, in one process and without
// Envoy or sockets: the snapshot cache (incremental gateway build) with S Delta
// streams (fake gRPC calls that serialize responses and decode ACKs with the
// ADS codec, as grpc-js does) that subscribe "*" to every type and ACK every
// response. Prints the heap the snapshot and the streams take, the time of one
// change (the build, then every stream's pushes, then their ACKs), and the heap
// 300 more changes add when no stream ACKs any more (what un-ACKed responses
// keep alive). `--cpu-profile FILE` writes a V8 CPU profile of the timed changes
// only (open it in Chrome DevTools). Exit codes: 0 measured, 2 bad arguments.
// Run with `node --expose-gc --import tsx` for exact heap figures (without it
// the heap includes uncollected garbage).
import { EventEmitter } from "node:events";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { DeltaStream } from "../../xds-server/ads/delta.js";
import { AdsServiceDefinition } from "../../xds-server/ads/service.js";
import { SnapshotCache } from "../../xds-server/cache/snapshots.js";
import type { AppRecord } from "../../xds-server/registry/types.js";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { PUSH_ORDER } from "../../xds-server/resource/types.js";
import type { TranslateConfig } from "../../xds-server/translate/index.js";

const HELP = `Usage: npx tsx test/bench/cp-inprocess.ts [options]

Options:
  --apps <n>      registered apps, one host each (default 10000)
  --streams <n>   simulated Delta streams that ACK (default 100)
  --changes <n>   one-app changes timed (default 20)
  --cpu-profile <file>  write a CPU profile of the timed changes
  -h, --help      show this help
`;

const cfg: TranslateConfig = {
  bff: {
    publicAddr: { host: "127.0.0.1", port: 3000 },
    internalAddr: { host: "127.0.0.1", port: 3001 },
    prefix: "/auth",
    authority: "sessiongate-bff",
    internalKey: "k",
    timeoutMs: 2000,
  },
  cache: { enabled: true, slots: 16384, skewS: 10, maxTtlS: 30 },
  gateway: { address: "0.0.0.0", port: 10000 },
};

function app(i: number, revision: number): AppRecord {
  const { spec, clientSecret } = validateApp({
    id: `app-${String(i).padStart(6, "0")}`,
    hosts: [`app-${i}.bench.test`],
    pathPrefix: "/",
    upstreams: ["10.0.0.1:8080"],
    oidc: { issuer: "https://op.test", clientId: "c", clientSecret: "s" },
    jwt: { issuer: "https://op.test", audiences: ["api"], remoteJwksUri: "https://op.test/jwks" },
  } as RawAppSpec);
  return { spec, clientSecret, revision, createdAt: "t", updatedAt: "t" };
}

const codec = AdsServiceDefinition.deltaAggregatedResources;

class FakeCall extends EventEmitter {
  written: DeltaDiscoveryResponse[] = [];
  bytes = 0;
  /**
   * Serialized as grpc-js does (the ADS codec: the server's CPU per response),
   * flushed at once (the callback is the HTTP/2 stream taking the bytes).
   */
  write(r: DeltaDiscoveryResponse, flushed?: () => void): boolean {
    this.bytes += codec.responseSerialize(r).length;
    this.written.push(r);
    flushed?.();
    return true;
  }
  end(): void {}
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const heapMiB = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

function stream(cache: SnapshotCache, id: string): FakeCall {
  const call = new FakeCall();
  new DeltaStream(call as never, cache, {}, { warn: () => {} });
  for (const [i, t] of PUSH_ORDER.entries())
    call.emit(
      "data",
      create(DeltaDiscoveryRequestSchema, {
        // The shipped bootstraps' metadata (envoy/gateway-ads.yaml): a node without a role makes every
        // stream's refresh scan every app for a sidecar service of its name (translate/index.ts roleOf).
        ...(i === 0 ? { node: { id, cluster: "gateway", metadata: { role: "gateway" } } } : {}),
        typeUrl: t,
        resourceNamesSubscribe: ["*"],
      }),
    );
  return call;
}

/** ACKs every response, each request decoded as grpc-js does. */
function ackAll(call: FakeCall): void {
  const got = call.written;
  call.written = [];
  for (const r of got) {
    const ack = create(DeltaDiscoveryRequestSchema, { typeUrl: r.typeUrl, responseNonce: r.nonce });
    call.emit("data", codec.requestDeserialize(codec.requestSerialize(ack)));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<number> {
  let o: { apps: number; streams: number; changes: number };
  let profile: string | undefined;
  try {
    const { values } = parseArgs({
      options: {
        apps: { type: "string" },
        streams: { type: "string" },
        changes: { type: "string" },
        "cpu-profile": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
    profile = values["cpu-profile"];
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    o = {
      apps: Number(values.apps ?? 10_000),
      streams: Number(values.streams ?? 100),
      changes: Number(values.changes ?? 20),
    };
    if (!Object.values(o).every((x) => Number.isInteger(x) && x > 0))
      throw new Error("counts must be positive integers");
  } catch (e) {
    process.stderr.write(`cp-inprocess: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  let apps = Array.from({ length: o.apps }, (_, i) => app(i, i + 1));
  let revision = o.apps;
  const cache = new SnapshotCache(cfg, { error: () => {} });
  // Subscribed before any stream: in a timed change the build runs here, so it is timed apart.
  let timing = false;
  let built = 0;
  const build: number[] = [];
  cache.subscribe(() => {
    if (!timing) return;
    const t0 = performance.now();
    cache.forRole({ kind: "gateway", address: "0.0.0.0", port: 10000, vhds: true });
    built = performance.now();
    build.push(built - t0);
  });
  const h0 = heapMiB();
  let t = performance.now();
  cache.setRegistry({ revision, apps });
  cache.forRole({ kind: "gateway", address: "0.0.0.0", port: 10000, vhds: true });
  const first = performance.now() - t;
  const h1 = heapMiB();
  const calls = Array.from({ length: o.streams }, (_, i) => {
    const c = stream(cache, `sim-${i}`);
    ackAll(c);
    return c;
  });
  const h2 = heapMiB();
  const pushes: number[] = [];
  const acks: number[] = [];
  const total: number[] = [];
  const change = () => {
    revision++;
    apps = [...apps, app(o.apps + revision, revision)];
    cache.setRegistry({ revision, apps });
  };
  const session = profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  timing = true;
  for (let k = 0; k < o.changes; k++) {
    t = performance.now();
    change();
    const pushed = performance.now();
    for (const c of calls) ackAll(c);
    const done = performance.now();
    pushes.push(pushed - built);
    acks.push(done - pushed);
    total.push(done - t);
  }
  timing = false;
  if (session && profile) {
    const { profile: p } = await session.post("Profiler.stop");
    writeFileSync(profile, JSON.stringify(p));
    session.disconnect();
  }
  const stalled = stream(cache, "stalled");
  const h3 = heapMiB();
  for (let k = 0; k < 300; k++) change();
  const h4 = heapMiB();
  const f = (x: number) => x.toFixed(x < 10 ? 1 : 0);
  process.stdout.write(
    [
      `apps ${o.apps}, ${o.streams} Delta streams (load average ${loadavg()[0].toFixed(1)})`,
      `first build: ${f(first)} ms, snapshot heap ${f(h1 - h0)} MiB`,
      `streams synced: +${f(h2 - h1)} MiB heap (${f(((h2 - h1) * 1024) / o.streams)} KiB per stream)`,
      `one-app change (build + ${o.streams} streams' pushes and ACKs): p50 ${f(median(total))} ms, max ${f(Math.max(...total))} ms`,
      `  of which (p50) build ${f(median(build))} ms, pushes ${f(median(pushes))} ms (${f((median(pushes) * 1000) / o.streams)} µs per stream), ACKs ${f(median(acks))} ms`,
      `then no stream ACKs any more, 300 more changes: +${f(h4 - h3)} MiB heap (one of them was sent ${stalled.written.length} responses)`,
      "",
    ].join("\n"),
  );
  return 0;
}

process.exitCode = await main();
