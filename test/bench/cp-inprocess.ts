// `npx tsx test/bench/cp-inprocess.ts [--apps N] [--streams S] [--changes C]`:
// the control plane's own cost of a one-app change, in one process and without
// Envoy or sockets: the snapshot cache (incremental gateway build) with S Delta
// streams (fake gRPC calls) that subscribe "*" to every type and ACK every
// response. Prints the heap the snapshot and the streams take and the time of
// one change (build + every stream's pushes and ACKs), and the heap 300 more
// changes add when no stream ACKs any more (what un-ACKed responses keep alive).
// Exit codes: 0 measured, 2 bad arguments. Run with `node --expose-gc --import tsx`
// for exact heap figures (without it the heap includes uncollected garbage).
import { EventEmitter } from "node:events";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { DeltaStream } from "../../xds-server/ads/delta.js";
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

class FakeCall extends EventEmitter {
  written: DeltaDiscoveryResponse[] = [];
  /** Flushed at once (the callback is the HTTP/2 stream taking the bytes). */
  write(r: DeltaDiscoveryResponse, flushed?: () => void): boolean {
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
        ...(i === 0 ? { node: { id, cluster: "gateway" } } : {}),
        typeUrl: t,
        resourceNamesSubscribe: ["*"],
      }),
    );
  return call;
}

function ackAll(call: FakeCall): void {
  const got = call.written;
  call.written = [];
  for (const r of got)
    call.emit("data", create(DeltaDiscoveryRequestSchema, { typeUrl: r.typeUrl, responseNonce: r.nonce }));
}

function main(): number {
  let o: { apps: number; streams: number; changes: number };
  try {
    const { values } = parseArgs({
      options: {
        apps: { type: "string" },
        streams: { type: "string" },
        changes: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
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
  const change = () => {
    revision++;
    apps = [...apps, app(o.apps + revision, revision)];
    cache.setRegistry({ revision, apps });
  };
  const times: number[] = [];
  for (let k = 0; k < o.changes; k++) {
    t = performance.now();
    change();
    for (const c of calls) ackAll(c);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const stalled = stream(cache, "stalled");
  const h3 = heapMiB();
  for (let k = 0; k < 300; k++) change();
  const h4 = heapMiB();
  const f = (x: number) => x.toFixed(x < 10 ? 1 : 0);
  process.stdout.write(
    [
      `apps ${o.apps}, ${o.streams} Delta streams (load average ${loadavg()[0].toFixed(1)})`,
      `first build: ${f(first)} ms, snapshot heap ${f(h1 - h0)} MiB`,
      `streams synced: +${f(h2 - h1)} MiB heap (${f((h2 - h1) / o.streams)} MiB per stream)`,
      `one-app change (build + ${o.streams} streams' pushes and ACKs): p50 ${f(times[Math.floor(times.length / 2)])} ms, max ${f(times.at(-1)!)} ms`,
      `then no stream ACKs any more, 300 more changes: +${f(h4 - h3)} MiB heap (one of them was sent ${stalled.written.length} responses)`,
      "",
    ].join("\n"),
  );
  return 0;
}

process.exitCode = main();
