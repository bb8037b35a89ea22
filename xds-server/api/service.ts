// The registration API handlers: authenticate, validate, apply atomically
// through the store, map registry errors to gRPC status codes.

import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { APP_ID_RULE, isAppId } from "../../contracts/rules.js";
import { parseTraceparent } from "../../contracts/trace.js";
import {
  AppApplyResultSchema,
  type AppEvent,
  AppEventSchema,
  type ApplyAppsRequest,
  type ApplyAppsResponse,
  ApplyAppsResponseSchema,
  DeleteAppResponseSchema,
  ListAppsResponseSchema,
  type WatchAppsRequest,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { Metrics } from "../metrics.js";
import { checkGroupClient } from "../registry/groups.js";
import { type JwksDiscoveryOptions, withJwksUri } from "../registry/jwks-discovery.js";
import type { SecretBox } from "../registry/secrets.js";
import { findApp, type Store } from "../registry/store.js";
import { type AppRecord, RegistryError } from "../registry/types.js";
import { type RawAppSpec, validateApp } from "../registry/validate.js";
import { ApplyError, type ApplyResult, applyApps } from "./apply.js";
import { applyStream, applyStreamDefinition, changedCount } from "./apply-stream.js";
import type { TokenAuth } from "./auth.js";
import { toWire } from "./convert.js";
import { AppRegistryDefinition } from "./definition.js";
import type { StatusBoard } from "./status.js";

export interface ApiDeps {
  store: Store;
  auth: TokenAuth;
  /** Seals client secrets before the store sees them; opens them for the status only. */
  secrets: SecretBox;
  /** The BFF's tokens: recognised here only to answer PERMISSION_DENIED. */
  bffAuth?: TokenAuth;
  status?: StatusBoard;
  metrics?: Metrics;
  /** The BFF's route prefix (--bff-prefix): public paths must not overlap it. */
  bffPrefix?: string;
  /** How a JWKS URI left out of a registration is discovered (default: fetch, 5 s). */
  jwksDiscovery?: JwksDiscoveryOptions;
  log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void };
}

class ApiError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const KIND_CODE: Record<string, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  NOT_FOUND: grpc.status.NOT_FOUND,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

function checkId(id: string): string {
  if (!isAppId(id)) throw new ApiError(grpc.status.INVALID_ARGUMENT, `id: ${APP_ID_RULE}`);
  return id;
}

export function addApiService(server: grpc.Server, deps: ApiDeps): void {
  const { store, auth, secrets, bffAuth, status, metrics, log } = deps;
  const validate = (raw: RawAppSpec | undefined, existing?: AppRecord) => {
    const v = validateApp(raw, existing, deps.bffPrefix);
    checkGroupClient(v.spec, store.snapshot().apps);
    return v;
  };
  const wire = (rec: AppRecord) => toWire(rec, secrets, status);
  /** Admin token -> null; the BFF token -> PERMISSION_DENIED (it reads, never writes); else UNAUTHENTICATED. */
  const denied = (md: grpc.Metadata): [grpc.status, string] | null => {
    if (auth.check(md)) return null;
    if (bffAuth?.check(md))
      return [grpc.status.PERMISSION_DENIED, "the BFF token may only call sessiongate.v1.BffDirectory"];
    return [grpc.status.UNAUTHENTICATED, "missing or invalid bearer token"];
  };
  /**
   * A secret given on the wire is sealed with the active key. An empty one
   * keeps the stored secret, re-sealed when it is under an older key or in
   * plain text (written before encryption): any update migrates it.
   */
  const seal = (id: string, given: string | undefined, validated: string) => {
    if (given) return secrets.seal(id, validated);
    if (secrets.isCurrent(validated)) return validated;
    let plain: string;
    try {
      plain = secrets.open(id, validated);
    } catch (e) {
      throw new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `oidc.client_secret: the stored secret cannot be read (${(e as Error).message}); send it again`,
      );
    }
    return secrets.seal(id, plain);
  };

  /** A handler's error as a gRPC status; anything unexpected is logged and answered INTERNAL. */
  const statusOf = (e: Error, method: string, md: grpc.Metadata): [grpc.status, string] => {
    if (e instanceof ApiError || e instanceof ApplyError) return [e.code, e.message];
    if (e instanceof RegistryError) return [KIND_CODE[e.kind] ?? grpc.status.INTERNAL, e.message];
    log.error(
      { err: e.message, stack: e.stack, method, ...parseTraceparent(md.get("traceparent")[0]) },
      "registration call failed",
    );
    return [grpc.status.INTERNAL, "internal error"];
  };

  // biome-ignore lint/suspicious/noExplicitAny: grpc-js unary handler types per method.
  function unary<Req>(name: string, fn: (req: Req) => Promise<any>) {
    // biome-ignore lint/suspicious/noExplicitAny: see above.
    return (call: grpc.ServerUnaryCall<Req, any>, cb: grpc.sendUnaryData<any>) => {
      const done = (code: grpc.status, err: Error | null, res?: unknown) => {
        metrics?.apiRequests.inc({ method: name, code: grpc.status[code] });
        // One line per call, with the caller's W3C trace ids when it sent `traceparent`.
        log.info(
          { method: name, code: grpc.status[code], ...parseTraceparent(call.metadata.get("traceparent")[0]) },
          "registration call",
        );
        if (err) cb({ code, details: err.message }, null);
        else cb(null, res);
      };
      const no = denied(call.metadata);
      if (no) {
        done(no[0], new Error(no[1]));
        return;
      }
      fn(call.request).then(
        (res) => done(grpc.status.OK, null, res),
        (e: Error) => {
          const [code, details] = statusOf(e, name, call.metadata);
          done(code, new Error(details));
        },
      );
    };
  }

  const find = (id: string) => {
    const a = findApp(store.snapshot().apps, id);
    if (!a) throw new ApiError(grpc.status.NOT_FOUND, `app ${id} not found`);
    return a;
  };

  const applyDeps = {
    store,
    secrets,
    jwksDiscovery: deps.jwksDiscovery,
    bffPrefix: deps.bffPrefix,
    validate,
    seal,
  };
  const resultWire = (r: ApplyResult) =>
    create(AppApplyResultSchema, {
      id: r.id,
      action: r.action,
      changedFields: r.changedFields,
      error: r.error ?? "",
      ...(r.record ? { app: wire(r.record) } : {}),
    });

  server.addService(applyStreamDefinition(AppRegistryDefinition), {
    createApp: unary("CreateApp", async (req: { app?: RawAppSpec }) => {
      const { spec: given, clientSecret } = validate(req.app);
      const spec = await withJwksUri(given, deps.jwksDiscovery);
      const rec = await store.create(spec, seal(spec.id, req.app?.oidc?.clientSecret, clientSecret));
      log.info({ app: spec.id, revision: rec.revision }, "app created");
      return wire(rec);
    }),
    updateApp: unary("UpdateApp", async (req: { app?: RawAppSpec; revision: bigint }) => {
      if (req.revision === 0n)
        throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: required (the app's current revision)");
      if (req.revision > BigInt(Number.MAX_SAFE_INTEGER))
        throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: out of range");
      const existing = find(checkId(req.app?.id ?? ""));
      const validated = validate(req.app, existing);
      const spec = await withJwksUri(validated.spec, deps.jwksDiscovery);
      const clientSecret = validated.clientSecret;
      const sealed = seal(spec.id, req.app?.oidc?.clientSecret, clientSecret);
      const rec = await store.update(spec, sealed, Number(req.revision));
      log.info(
        { app: spec.id, revision: rec.revision, secretChanged: sealed !== existing.clientSecret },
        "app updated",
      );
      return wire(rec);
    }),
    deleteApp: unary("DeleteApp", async (req: { id: string; revision: bigint }) => {
      checkId(req.id);
      if (req.revision > BigInt(Number.MAX_SAFE_INTEGER))
        throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: out of range");
      const revision = await store.delete(req.id, Number(req.revision));
      log.info({ app: req.id, revision }, "app deleted");
      return create(DeleteAppResponseSchema, { revision: BigInt(revision) });
    }),
    applyApps: unary("ApplyApps", async (req: { apps: RawAppSpec[]; prune: boolean; dryRun: boolean }) => {
      const results = await applyApps(applyDeps, req);
      log.info({ apps: results.length, changed: changedCount(results), dryRun: req.dryRun }, "apps applied");
      return create(ApplyAppsResponseSchema, {
        results: results.map(resultWire),
        revision: BigInt(store.snapshot().revision),
        dryRun: req.dryRun,
        total: results.length,
      });
    }),
    applyAppsStream: (call: grpc.ServerDuplexStream<ApplyAppsRequest, ApplyAppsResponse>) =>
      applyStream(call, {
        denied,
        metrics,
        log,
        apply: (req, onResults) => applyApps(applyDeps, req, onResults),
        wire: resultWire,
        revision: () => store.snapshot().revision,
        statusOf: (e, md) => statusOf(e, "ApplyAppsStream", md),
      }),
    getApp: unary("GetApp", async (req: { id: string }) => wire(find(checkId(req.id)))),
    listApps: unary("ListApps", async () => {
      const snap = store.snapshot();
      return create(ListAppsResponseSchema, {
        apps: snap.apps.map(wire),
        revision: BigInt(snap.revision),
      });
    }),
    watchApps: (call: grpc.ServerWritableStream<WatchAppsRequest, AppEvent>) => {
      const no = denied(call.metadata);
      if (no) {
        metrics?.apiRequests.inc({ method: "WatchApps", code: grpc.status[no[0]] });
        call.emit("error", { code: no[0], details: no[1] });
        return;
      }
      metrics?.apiRequests.inc({ method: "WatchApps", code: "OK" });
      if (call.request.initial) {
        for (const a of store.snapshot().apps) {
          call.write(
            create(AppEventSchema, {
              type: "ADDED",
              id: a.spec.id,
              app: wire(a),
              revision: BigInt(a.revision),
            }),
          );
        }
      }
      const off = store.onChange((_snap, events) => {
        for (const e of events) {
          call.write(
            create(AppEventSchema, {
              type: e.type,
              id: e.id,
              revision: BigInt(e.revision),
              ...(e.app ? { app: wire(e.app) } : {}),
            }),
          );
        }
      });
      call.on("cancelled", off);
      call.on("close", off);
      call.on("error", off);
    },
  });
}
