// The registration API handlers: authenticate, validate, apply atomically
// through the store, map registry errors to gRPC status codes.
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type AppEvent,
  AppEventSchema,
  DeleteAppResponseSchema,
  ListAppsResponseSchema,
  type WatchAppsRequest,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { Metrics } from "../metrics.js";
import type { Store } from "../registry/store.js";
import { RegistryError } from "../registry/types.js";
import { validateApp } from "../registry/validate.js";
import type { TokenAuth } from "./auth.js";
import { toWire } from "./convert.js";
import { AppRegistryDefinition } from "./definition.js";
import type { StatusBoard } from "./status.js";

const ID_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface ApiDeps {
  store: Store;
  auth: TokenAuth;
  status?: StatusBoard;
  metrics?: Metrics;
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
  if (!ID_RE.test(id))
    throw new ApiError(grpc.status.INVALID_ARGUMENT, "id: must be 1-63 chars of a-z, 0-9 and '-'");
  return id;
}

export function addApiService(server: grpc.Server, deps: ApiDeps): void {
  const { store, auth, status, metrics, log } = deps;

  // biome-ignore lint/suspicious/noExplicitAny: grpc-js unary handler types per method.
  function unary<Req>(name: string, fn: (req: Req) => Promise<any>) {
    // biome-ignore lint/suspicious/noExplicitAny: see above.
    return (call: grpc.ServerUnaryCall<Req, any>, cb: grpc.sendUnaryData<any>) => {
      const done = (code: grpc.status, err: Error | null, res?: unknown) => {
        metrics?.apiRequests.inc({ method: name, code: grpc.status[code] });
        if (err) cb({ code, details: err.message }, null);
        else cb(null, res);
      };
      if (!auth.check(call.metadata)) {
        done(grpc.status.UNAUTHENTICATED, new Error("missing or invalid bearer token"));
        return;
      }
      fn(call.request).then(
        (res) => done(grpc.status.OK, null, res),
        (e: Error) => {
          if (e instanceof ApiError) return done(e.code, e);
          if (e instanceof RegistryError) return done(KIND_CODE[e.kind] ?? grpc.status.INTERNAL, e);
          log.error({ err: e.message, stack: e.stack, method: name }, "registration call failed");
          done(grpc.status.INTERNAL, new Error("internal error"));
        },
      );
    };
  }

  const find = (id: string) => {
    const a = store.snapshot().apps.find((x) => x.spec.id === id);
    if (!a) throw new ApiError(grpc.status.NOT_FOUND, `app ${id} not found`);
    return a;
  };

  server.addService(AppRegistryDefinition, {
    createApp: unary("CreateApp", async (req: { app?: Parameters<typeof validateApp>[0] }) => {
      const { spec, clientSecret } = validateApp(req.app);
      const rec = await store.create(spec, clientSecret);
      log.info({ app: spec.id, revision: rec.revision }, "app created");
      return toWire(rec, status);
    }),
    updateApp: unary(
      "UpdateApp",
      async (req: { app?: Parameters<typeof validateApp>[0]; revision: bigint }) => {
        if (req.revision === 0n)
          throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: required (the app's current revision)");
        if (req.revision > BigInt(Number.MAX_SAFE_INTEGER))
          throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: out of range");
        const existing = find(checkId(req.app?.id ?? ""));
        const { spec, clientSecret } = validateApp(req.app, existing);
        const rec = await store.update(spec, clientSecret, Number(req.revision));
        log.info({ app: spec.id, revision: rec.revision }, "app updated");
        return toWire(rec, status);
      },
    ),
    deleteApp: unary("DeleteApp", async (req: { id: string; revision: bigint }) => {
      checkId(req.id);
      if (req.revision > BigInt(Number.MAX_SAFE_INTEGER))
        throw new ApiError(grpc.status.INVALID_ARGUMENT, "revision: out of range");
      const revision = await store.delete(req.id, Number(req.revision));
      log.info({ app: req.id, revision }, "app deleted");
      return create(DeleteAppResponseSchema, { revision: BigInt(revision) });
    }),
    getApp: unary("GetApp", async (req: { id: string }) => toWire(find(checkId(req.id)), status)),
    listApps: unary("ListApps", async () => {
      const snap = store.snapshot();
      return create(ListAppsResponseSchema, {
        apps: snap.apps.map((a) => toWire(a, status)),
        revision: BigInt(snap.revision),
      });
    }),
    watchApps: (call: grpc.ServerWritableStream<WatchAppsRequest, AppEvent>) => {
      if (!auth.check(call.metadata)) {
        metrics?.apiRequests.inc({ method: "WatchApps", code: "UNAUTHENTICATED" });
        call.emit("error", { code: grpc.status.UNAUTHENTICATED, details: "missing or invalid bearer token" });
        return;
      }
      metrics?.apiRequests.inc({ method: "WatchApps", code: "OK" });
      if (call.request.initial) {
        for (const a of store.snapshot().apps) {
          call.write(
            create(AppEventSchema, {
              type: "ADDED",
              id: a.spec.id,
              app: toWire(a, status),
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
              ...(e.app ? { app: toWire(e.app, status) } : {}),
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
