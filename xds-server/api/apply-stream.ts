// ApplyAppsStream: one apply larger than one API message. The API keeps its
// 1 MiB limit per message (a hostile caller still cannot send one huge
// message); this call takes a stream of them, bounded as a whole by app count
// and bytes, plans the whole batch once the client half-closes, and streams
// the results back chunk by chunk as they are written (the CLI's progress).
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { parseTraceparent } from "../../contracts/trace.js";
import {
  type AppApplyResult,
  type ApplyAppsRequest,
  type ApplyAppsResponse,
  ApplyAppsResponseSchema,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { Metrics } from "../metrics.js";
import type { RawAppSpec } from "../registry/validate.js";
import { ApplyError, type ApplyRequest, type ApplyResult } from "./apply.js";

/** Apps per call: 2.5x the 10,000 the apply is measured at; more takes several calls (without --prune). */
export const MAX_APPLY_APPS = 25_000;
/** Request bytes per call (a typical spec is ~0.5 KB, so the app bound comes first). */
export const MAX_APPLY_BYTES = 64 << 20;
/** Results per response message: a message stays far below the client's 4 MiB default. */
const RESULTS_PER_MESSAGE = 200;

export const changedCount = (rs: ApplyResult[]) => rs.filter((r) => r.action !== "unchanged").length;

/** Wire size of each request message, recorded as it is decoded (grpc-js does not say). */
const wireBytes = new WeakMap<object, number>();

/** `def` with ApplyAppsStream's request decoder recording each message's size. */
export function applyStreamDefinition<
  D extends { applyAppsStream: grpc.MethodDefinition<ApplyAppsRequest, ApplyAppsResponse> },
>(def: D): D {
  const m = def.applyAppsStream;
  return {
    ...def,
    applyAppsStream: {
      ...m,
      requestDeserialize: (b: Buffer) => {
        const msg = m.requestDeserialize(b);
        wireBytes.set(msg as object, b.length);
        return msg;
      },
    },
  };
}

export interface ApplyStreamDeps {
  denied(md: grpc.Metadata): [grpc.status, string] | null;
  metrics?: Metrics;
  log: { info: (o: object, m: string) => void };
  apply(
    req: ApplyRequest,
    onResults: (rs: ApplyResult[], revision: number, total: number) => void,
  ): Promise<ApplyResult[]>;
  wire(r: ApplyResult): AppApplyResult;
  revision(): number;
  statusOf(e: Error, md: grpc.Metadata): [grpc.status, string];
}

export function applyStream(
  call: grpc.ServerDuplexStream<ApplyAppsRequest, ApplyAppsResponse>,
  d: ApplyStreamDeps,
): void {
  let finished = false;
  const finish = (code: grpc.status, details = "") => {
    if (finished) return;
    finished = true;
    d.metrics?.apiRequests.inc({ method: "ApplyAppsStream", code: grpc.status[code] });
    d.log.info(
      {
        method: "ApplyAppsStream",
        code: grpc.status[code],
        ...parseTraceparent(call.metadata.get("traceparent")[0]),
      },
      "registration call",
    );
    if (code === grpc.status.OK) call.end();
    else call.emit("error", { code, details });
  };
  const no = d.denied(call.metadata);
  if (no) {
    finish(no[0], no[1]);
    return;
  }

  const apps: RawAppSpec[] = [];
  let bytes = 0;
  let first: ApplyAppsRequest | undefined;
  call.on("data", (m: ApplyAppsRequest) => {
    if (finished) return;
    first ??= m;
    bytes += wireBytes.get(m) ?? 0;
    for (const a of m.apps) apps.push(a as RawAppSpec);
    if (apps.length > MAX_APPLY_APPS)
      finish(
        grpc.status.RESOURCE_EXHAUSTED,
        `apps: more than ${MAX_APPLY_APPS} in one apply (the bound per call); nothing changed — split the apps over several applies (without --prune)`,
      );
    else if (bytes > MAX_APPLY_BYTES)
      finish(
        grpc.status.RESOURCE_EXHAUSTED,
        `apps: more than ${MAX_APPLY_BYTES >> 20} MiB in one apply (the bound per call); nothing changed`,
      );
  });
  call.on("cancelled", () => {
    finished = true; // the client went away: a write in progress completes, nothing more is sent
  });
  call.on("end", () => {
    if (finished) return;
    const dryRun = first?.dryRun ?? false;
    const send = (rs: ApplyResult[], revision: number, total: number) => {
      for (let i = 0; i < rs.length; i += RESULTS_PER_MESSAGE)
        call.write(
          create(ApplyAppsResponseSchema, {
            // The app itself only for a dry run (the CLI's diff): 10,000 of them are megabytes.
            results: rs
              .slice(i, i + RESULTS_PER_MESSAGE)
              .map((r) => d.wire(dryRun ? r : { ...r, record: undefined })),
            revision: BigInt(revision),
            dryRun,
            total,
          }),
        );
    };
    d.apply({ apps, prune: first?.prune ?? false, dryRun }, send).then(
      (results) => {
        d.log.info({ apps: results.length, changed: changedCount(results), dryRun }, "apps applied");
        finish(grpc.status.OK);
      },
      (e: Error) => {
        if (e instanceof ApplyError) send(e.refused, d.revision(), e.refused.length);
        const [code, details] = d.statusOf(e, call.metadata);
        finish(code, details);
      },
    );
  });
}
