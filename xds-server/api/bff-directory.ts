// sessiongate.v1.BffDirectory: the BFF's privileged read of the registry. It
// is the only place a client secret is decrypted, and only the BFF token may
// call it (an admin token gets PERMISSION_DENIED, so a leaked admin token
// still cannot read secrets back: invariant 8).
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type BffApp,
  type BffAppEvent,
  BffAppEventSchema,
  BffAppSchema,
  BffDirectory,
  type WatchBffAppsRequest,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { Metrics } from "../metrics.js";
import type { SecretBox } from "../registry/secrets.js";
import type { Store } from "../registry/store.js";
import type { AppRecord } from "../registry/types.js";
import { serviceDefinition } from "../resource/grpc.js";
import type { TokenAuth } from "./auth.js";

export const BffDirectoryDefinition = serviceDefinition(BffDirectory);

export const BffDirectoryClient = grpc.makeGenericClientConstructor(BffDirectoryDefinition, "BffDirectory");

/** Defaults the BFF needs resolved: https://<first host> as the origin, https://<host> per host as origins. */
export function toBffApp(rec: AppRecord, secrets: SecretBox): BffApp {
  const s = rec.spec;
  const named = s.hosts.filter((h) => h !== "*");
  const publicOrigin =
    s.oidc.publicOrigin ?? (s.hosts[0] && s.hosts[0] !== "*" ? `https://${s.hosts[0]}` : "");
  if (!publicOrigin) throw new Error("no public origin: hosts[0] is '*', set oidc.public_origin");
  return create(BffAppSchema, {
    id: s.id,
    mode: s.session.mode,
    issuer: s.oidc.issuer,
    clientId: s.oidc.clientId,
    clientSecret: secrets.open(s.id, rec.clientSecret),
    scopes: s.oidc.scopes,
    cookieName: s.session.cookieName,
    publicOrigin,
    pathPrefix: s.pathPrefix,
    postLogoutRedirectUri: s.oidc.postLogoutRedirectUri ?? "",
    allowedOrigins: s.session.allowedOrigins.length
      ? s.session.allowedOrigins
      : named.map((h) => `https://${h}`),
    authParams: s.oidc.authParams ?? {},
    revision: BigInt(rec.revision),
    group: s.group ?? "",
  });
}

export interface BffDirectoryDeps {
  store: Store;
  secrets: SecretBox;
  /** Admin tokens: recognised only to answer PERMISSION_DENIED. */
  adminAuth: TokenAuth;
  bffAuth?: TokenAuth;
  metrics?: Metrics;
  log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void };
}

export function addBffDirectory(server: grpc.Server, deps: BffDirectoryDeps): void {
  const { store, secrets, adminAuth, bffAuth, metrics, log } = deps;
  server.addService(BffDirectoryDefinition, {
    watchBffApps: (call: grpc.ServerWritableStream<WatchBffAppsRequest, BffAppEvent>) => {
      const deny = (code: grpc.status, details: string) => {
        metrics?.apiRequests.inc({ method: "WatchBffApps", code: grpc.status[code] });
        call.emit("error", { code, details });
      };
      if (!bffAuth?.check(call.metadata)) {
        if (adminAuth.check(call.metadata))
          return deny(grpc.status.PERMISSION_DENIED, "the admin API token may not read the BFF directory");
        return deny(grpc.status.UNAUTHENTICATED, "missing or invalid BFF bearer token");
      }
      metrics?.apiRequests.inc({ method: "WatchBffApps", code: "OK" });
      // Ids this stream has delivered: an app whose secret cannot be opened
      // is withdrawn (fail closed: the BFF stops serving it, never logs in
      // with a stale or empty secret).
      const sent = new Set<string>();
      const send = (type: string, rec: AppRecord) => {
        let app: BffApp;
        try {
          app = toBffApp(rec, secrets);
        } catch (e) {
          log.error({ app: rec.spec.id, err: (e as Error).message }, "app withheld from the BFF");
          if (sent.delete(rec.spec.id))
            call.write(
              create(BffAppEventSchema, { type: "DELETED", id: rec.spec.id, revision: appRev(rec) }),
            );
          return;
        }
        call.write(
          create(BffAppEventSchema, {
            type: sent.has(rec.spec.id) && type === "ADDED" ? "MODIFIED" : type,
            id: rec.spec.id,
            app,
            revision: appRev(rec),
          }),
        );
        sent.add(rec.spec.id);
      };
      // snapshot() and onChange() are synchronous: no change falls in between.
      const snap = store.snapshot();
      const off = store.onChange((_snap, events) => {
        for (const e of events) {
          if (e.type === "DELETED" || !e.app) {
            if (sent.delete(e.id))
              call.write(
                create(BffAppEventSchema, { type: "DELETED", id: e.id, revision: BigInt(e.revision) }),
              );
          } else send(e.type, e.app);
        }
      });
      for (const a of snap.apps) send("ADDED", a);
      call.write(create(BffAppEventSchema, { type: "SYNCED", revision: BigInt(snap.revision) }));
      log.info({ apps: sent.size, revision: snap.revision }, "BFF directory stream opened");
      call.on("cancelled", off);
      call.on("close", off);
      call.on("error", off);
    },
  });
}

const appRev = (rec: AppRecord) => BigInt(rec.revision);
