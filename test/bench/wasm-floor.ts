// `npx tsx test/bench/wasm-floor.ts [wasm files…]`: where a cache hit's Envoy CPU
// goes. For each filter build, one Envoy (envoy/bench-side-by-side.yaml,
// --concurrency 1, pinned to CPU 0) measures Envoy CPU µs per request for
// (a) jwt_authn alone, (p) the wasm filter passing a request through (a bearer,
// no cookie), the same on an empty proxy-wasm filter (the per-stream cost of any
// wasm filter) and (h) a cache hit. Builds are interleaved within every repetition.
// Exit codes: 0 measured, 1 a run failed, 2 bad arguments.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { startTokenServer } from "../fixtures/token-server.js";
import { stopAll, WASM_PATH } from "../harness/index.js";
import {
  type BenchEnvoy,
  buildEmptyFilter,
  EMPTY_FILTER,
  LUA_VARS,
  luaReferenceSource,
  type Ports,
  SIDE_BY_SIDE_YAML,
  startBenchEnvoy,
} from "./lib/envoy.js";
import { startPerf } from "./lib/perf.js";
import { cpuSeconds } from "./lib/pin.js";
import { COOKIE } from "./lib/stack.js";
import { cell, summarize } from "./lib/stats.js";
import { runWrk } from "./lib/wrk.js";

const HELP = `Usage: npx tsx test/bench/wasm-floor.ts [options] [build.wasm …]

Envoy CPU µs per request for jwt_authn alone, an empty proxy-wasm filter
(filter/empty-filter, no host call: the floor of any wasm filter), the wasm
filter passing a request through, a wasm cache hit, and the hit minus the empty
filter (the filter's own work), for each filter build given (default: the
current build, ${WASM_PATH}); with several builds, also each one's hit minus
the first build's, per repetition.

Options:
  --reps <n>         repetitions (default 5)
  --duration <s>     seconds per measurement (default 4)
  --route-metadata   put the app on the route (filter_metadata sessiongate.app), as
                     the xds-server does, instead of the plugin's apps list
  --jwt-cache        turn on jwt_authn's cache of verified tokens (jwt_cache_config),
                     as the xds-server does
  --hit-only         measure only the cache hit (h) of each build (and the empty
                     filter's floor): for comparing many builds, e.g. variants that
                     stop after each step of the hit path
  --perf <dir>       also profile Envoy with perf (perf record -g) during the last
                     repetition of each case, and print where its CPU went by shared
                     object (Envoy's binary is stripped; V8's wasm code is anonymous
                     JIT memory: "[JIT]/anon" = the filter's own wasm code)
  -h, --help         show this help

Exit codes: 0 measured, 1 a run failed, 2 bad arguments.
`;

const SID = "S".repeat(43);

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const reps = Number(values.reps ?? 5);
  const durationS = Number(values.duration ?? 4);
  const files = positionals.length ? positionals : [WASM_PATH];
  const bad = files.find((f) => !existsSync(f));
  if (!Number.isInteger(reps) || reps < 1 || !Number.isInteger(durationS) || durationS < 1 || bad) {
    process.stderr.write(
      `${bad ? `no such file: ${bad}` : "--reps and --duration take positive integers"}\n`,
    );
    return 2;
  }

  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const [iss, aud] = ["https://issuer.bench", "https://api.bench"];
  const token = await new SignJWT({ sub: "alice" })
    .setProtectedHeader({ alg: "RS256", kid: "k1" })
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime("2h")
    .sign(privateKey);
  const bff = await startTokenServer();
  bff.sessions.set(SID, { accessToken: token, expiresIn: 3600 });

  let yaml = SIDE_BY_SIDE_YAML;
  let src = readFileSync(SIDE_BY_SIDE_YAML, "utf8");
  if (values["jwt-cache"]) {
    const withCache = src.replace(
      "                  forward: true\n",
      "                  forward: true\n                  jwt_cache_config: { jwt_cache_size: 1000 }\n",
    );
    if (withCache === src)
      throw new Error("could not place jwt_cache_config in envoy/bench-side-by-side.yaml");
    src = withCache;
  }
  if (values["route-metadata"]) {
    const withMeta = src.replace(
      '              - match: { prefix: "/" }\n',
      `              - match: { prefix: "/" }\n                metadata: { filter_metadata: { sessiongate: { app: '${JSON.stringify({ id: LUA_VARS.APP_ID })}' } } }\n`,
    );
    if (withMeta === src) throw new Error("could not place route metadata in envoy/bench-side-by-side.yaml");
    src = withMeta;
  }
  if (values["route-metadata"] || values["jwt-cache"]) {
    yaml = "/tmp/sessiongate-wasm-floor.yaml";
    writeFileSync(yaml, src);
  }
  const envoys: (BenchEnvoy & { file: string })[] = [];
  // The floor: an empty proxy-wasm filter (no host call), measured in the same repetitions.
  buildEmptyFilter();
  for (const file of [EMPTY_FILTER, ...files]) {
    const jwks = JSON.stringify({ keys: [jwk] });
    const lua = luaReferenceSource() ?? "";
    const e = await startBenchEnvoy({
      bffPort: bff.port,
      issuer: iss,
      audience: aud,
      jwks,
      lua,
      cpus: "0",
      name: "wasm-floor",
      file: yaml,
      wasmPath: file,
    });
    envoys.push({ ...e, file });
  }
  const cases: { key: string; port: (p: Ports) => number; h: Record<string, string> }[] = [
    {
      key: "(a) jwt_authn alone",
      port: (p: Ports) => p.a,
      h: { authorization: `Bearer ${token}` },
    },
    {
      key: "(p) wasm pass-through",
      port: (p: Ports) => p.c,
      h: { authorization: `Bearer ${token}` },
    },
    {
      key: "(h) wasm cache hit",
      port: (p: Ports) => p.c,
      h: { cookie: `${COOKIE}=${SID}` },
    },
  ];
  const samples = new Map<string, number[]>();
  const perfDir = values.perf;
  if (perfDir) mkdirSync(perfDir, { recursive: true });
  const profiles: string[] = [];
  for (let rep = 0; rep < reps; rep++) {
    process.stderr.write(`wasm-floor: repetition ${rep + 1}/${reps}\n`);
    for (const e of envoys) {
      for (const c of e.file === EMPTY_FILTER
        ? cases.slice(1, 2)
        : values["hit-only"]
          ? cases.slice(2)
          : cases) {
        const c0 = cpuSeconds(e.envoy.proc.pid);
        const profile =
          perfDir && rep === reps - 1
            ? startPerf(
                e.envoy.proc.pid,
                durationS,
                join(perfDir, `${basename(e.file)}-${c.key.slice(1, 2)}.data`),
                1999,
              )
            : null;
        const r = await runWrk({
          url: `http://127.0.0.1:${c.port(e.ports)}/`,
          connections: 16,
          durationS,
          headers: c.h,
          cpus: "1",
        });
        const us = ((cpuSeconds(e.envoy.proc.pid) - c0) / r.requests) * 1e6;
        const k = `${e.file}\t${c.key}`;
        samples.set(k, [...(samples.get(k) ?? []), us]);
        if (profile) profiles.push(`### ${e.file} ${c.key}\n\n${await profile}`);
      }
    }
  }
  const floor = samples.get(`${EMPTY_FILTER}\t${cases[1].key}`) ?? [];
  for (const file of files) {
    const hit = samples.get(`${file}\t${cases[2].key}`) ?? [];
    samples.set(
      `${file}\t(h) - empty filter: the filter's own work on a hit`,
      hit.map((x, i) => x - floor[i]),
    );
  }
  // Several builds: each one's hit against the first build's, per repetition (paired: both
  // measured within the same minute, so a busy machine shifts both alike).
  const first = samples.get(`${files[0]}\t${cases[2].key}`) ?? [];
  for (const file of files.slice(1)) {
    const hit = samples.get(`${file}\t${cases[2].key}`) ?? [];
    samples.set(
      `${file}\t(h) - (h) of ${basename(files[0])}, per repetition`,
      hit.map((x, i) => x - first[i]),
    );
  }
  process.stdout.write("| build | case | Envoy CPU µs/request |\n|---|---|---:|\n");
  for (const [k, v] of samples) {
    const [file, key] = k.split("\t");
    process.stdout.write(`| ${file} | ${key} | ${cell(summarize(v, "µs"))} |\n`);
  }
  if (profiles.length)
    process.stdout.write(`\n## perf: Envoy CPU by shared object\n\n${profiles.join("\n")}\n`);
  await bff.stop();
  return 0;
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      reps: { type: "string" },
      duration: { type: "string" },
      "route-metadata": { type: "boolean" },
      "jwt-cache": { type: "boolean" },
      "hit-only": { type: "boolean" },
      perf: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

main()
  .then(async (code) => {
    await stopAll(false);
    process.exit(code);
  })
  .catch(async (err) => {
    process.stderr.write(`wasm-floor: ${(err as Error).message}\n`);
    await stopAll(true);
    process.exit(1);
  });
