// The registration campaign: `n` generated malformed calls against a real
// xds-server process with the Redis registry. Each call must get the expected
// gRPC code (naming the field), never echo the secret, and leave ListApps and
// every Redis key byte-for-byte as they were; the server must stay healthy and
// still accept a valid call at the end.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { Redis } from "ioredis";
import { AppSpecSchema } from "../../../protos/gen/sessiongate/v1/apps_pb.js";
import { type Client, connect } from "../../../xds-server/cli/client.js";
import { REPO_ROOT, startRedis, waitFor } from "../../harness/index.js";
import { startControlPlane, TOKEN } from "../../xds/helpers.js";
import { type CampaignFigures, type Log, pickSeed, progress, show, Tally } from "../figures.js";
import { type ExistingApp, type RegCase, regCase, SECRET, spec } from "./cases.js";
import { diff, registryState } from "./state.js";
import { rawClient, sendRaw } from "./wire.js";

export interface RegistrationOptions {
  n: number;
  seed?: number;
  log?: Log;
  /** Calls in flight at once (every one must leave the registry unchanged, so order does not matter). */
  concurrency?: number;
}

/** public_paths is generated only once the validator knows the field (another engineer is adding it). */
export function publicPathsValidated(): boolean {
  const src = readFileSync(join(REPO_ROOT, "xds-server/registry/validate.ts"), "utf8");
  return src.includes("public_paths") && AppSpecSchema.fields.some((f) => f.localName === "publicPaths");
}

const SEED_APPS = [
  { id: "base", host: "base.test", prefix: "/" },
  { id: "other", host: "other.test", prefix: "/" },
  { id: "shop", host: "shop.test", prefix: "/api" },
];

function metadata(auth: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const v of auth) md.add("authorization", v);
  return md;
}

async function send(api: Client, raw: grpc.Client, c: RegCase): Promise<grpc.ServiceError | null> {
  const md = metadata(c.auth);
  if (c.raw) return sendRaw(raw, c.raw, md);
  if (c.method === "watchApps") {
    return new Promise((resolve) => {
      const s = api.raw.watchApps(c.req, md);
      const t = setTimeout(() => {
        s.cancel();
        resolve(null); // a stream that stays open was accepted
      }, 5000);
      s.on("error", (e: grpc.ServiceError) => {
        clearTimeout(t);
        resolve(e);
      });
      s.on("data", () => {
        clearTimeout(t);
        s.cancel();
        resolve(null);
      });
    });
  }
  return new Promise((resolve) => {
    // biome-ignore lint/suspicious/noExplicitAny: generic client method lookup (as the CLI's client does).
    (api.raw as any)[c.method](
      c.req,
      md,
      { deadline: Date.now() + 10_000 },
      (err: grpc.ServiceError | null) => resolve(err),
    );
  });
}

/** Checks one answer; returns the violation or "". */
function judge(c: RegCase, err: grpc.ServiceError | null): string {
  if (!err) return `${c.label}: accepted ${show(c.req ?? c.raw)}`;
  if (!c.codes.includes(err.code))
    return `${c.label}: got ${grpc.status[err.code]} "${err.details.slice(0, 120)}", want ${c.codes.map((x) => grpc.status[x]).join("|")} for ${show(c.req ?? c.raw)}`;
  const named =
    !c.fields ||
    c.fields.some(
      (f) =>
        err.details.startsWith(`${f}:`) ||
        err.details.startsWith(`${f} `) ||
        (f === "public_paths" && err.details.startsWith("public_paths")),
    );
  if (!named)
    return `${c.label}: details "${err.details.slice(0, 120)}" name none of ${c.fields?.join(", ")}`;
  if (err.details.includes(SECRET) || err.details.includes("s3cr3t"))
    return `${c.label}: secret echoed in "${err.details.slice(0, 120)}"`;
  return "";
}

export async function runRegistrationCampaign(opts: RegistrationOptions): Promise<CampaignFigures> {
  const seed = pickSeed(opts.seed);
  const tally = new Tally("registration", opts.n, seed);
  const log = opts.log;
  const redis = await startRedis();
  const rc = new Redis(redis.url, { lazyConnect: false });
  const cp = await startControlPlane({ name: "badinput-xds", redisUrl: redis.url });
  const api = connect(cp.api, TOKEN);
  const raw = rawClient(cp.api);
  const healthz = async () =>
    (await fetch(`http://127.0.0.1:${cp.httpPort}/readyz`).catch(() => null))?.status === 200;
  try {
    // Readiness is checked again after the campaign; the API is probed directly here.
    await waitFor("registration API", () => api.unary("listApps", {}, 2000).then(() => true), 20_000, 100);
    const apps: ExistingApp[] = [];
    for (const a of SEED_APPS) {
      const r = await api.unary<unknown, { revision: bigint }>(
        "createApp",
        { app: spec(a.id, a.host, a.prefix) },
        10_000,
      );
      apps.push({ ...a, revision: r.revision });
    }
    const publicPaths = publicPathsValidated();
    tally.extra.public_paths_generated = publicPaths;
    log?.(
      `registration: seed ${seed}, n ${opts.n}, public_paths ${publicPaths ? "on" : "off (not validated yet)"}`,
    );
    let baseline = await registryState(api, rc);
    const arb = regCase({ apps, publicPaths });
    const tick = progress(log, "registration calls", opts.n);
    const conc = opts.concurrency ?? 8;
    const chunk = 500;
    let done = 0;
    for (let start = 0; start < opts.n; start += chunk) {
      // Chunked sampling keeps memory flat; chunk seeds derive from the run's seed.
      const cases = fc.sample(arb, { seed: seed + start, numRuns: Math.min(chunk, opts.n - start) });
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const c = cases[next++];
          const err = await send(api, raw, c);
          tally.count(
            `${err ? grpc.status[err.code] : "OK"} ${c.label.replace(/-wt\d|(?<=field)-\d+/g, "")}`,
          );
          const bad = judge(c, err);
          if (bad) tally.violation(bad);
          const now = await registryState(api, rc);
          const d = diff(baseline, now);
          if (d) {
            tally.violation(`${c.label}: registry changed (${d}) by ${show(c.req ?? c.raw)}`);
            baseline = now;
          }
          tick(++done);
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      if (!(await healthz())) tally.violation(`xds-server unhealthy after ${done} calls`);
    }
    // Still serving: a valid call is accepted and undone.
    const probe = await api
      .unary<unknown, { revision: bigint }>("createApp", { app: spec("probe-after") }, 10_000)
      .then(
        (r) => r,
        (e: grpc.ServiceError) => e,
      );
    const probeOk = !(probe instanceof Error);
    if (!probeOk)
      tally.violation(`a valid create after the campaign failed: ${(probe as grpc.ServiceError).details}`);
    else await api.unary("deleteApp", { id: "probe-after" }, 10_000);
    tally.extra.valid_call_after = probeOk;
    tally.extra.healthy_after = await healthz();
    if (!tally.extra.healthy_after) tally.violation("xds-server unhealthy at the end");
    tally.extra.revision_before = String(apps.at(-1)?.revision ?? 0n);
    tally.extra.revision_after_refusals = baseline.revision;
  } finally {
    raw.close();
    api.close();
    rc.disconnect();
    await cp.stop();
    await redis.stop();
  }
  return tally.figures();
}
