// mTLS on the BFF's internal listener: the TLS material from files (reloaded
// when an external CA rewrites them; a bad set keeps the old one), and the
// caller check of the token endpoint: a client certificate from the mesh's
// trust bundle naming a gateway or sidecar workload. /metrics and the health
// endpoints stay reachable over TLS without a client certificate.
import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { type Material, readMaterial } from "../../xds-server/identity/material.js";
import { IdentityError, workloadIdOf } from "../../xds-server/identity/spiffe.js";
import { WatchedFiles, type WatchLog } from "../../xds-server/identity/watch.js";
import type { BffConfig } from "../config/schema.js";

export type InternalTls = NonNullable<BffConfig["internalTls"]>;

export function watchInternalTls(cfg: InternalTls, log: WatchLog): Promise<WatchedFiles<Material>> {
  const files = { certFile: cfg.certFile, keyFile: cfg.keyFile, caFile: cfg.caFile };
  return WatchedFiles.start(Object.values(files), {
    what: "BFF internal listener certificate",
    log,
    pollMs: 60_000,
    load: () => readMaterial(files),
    key: (m) => m.digest,
  });
}

export function secureContextOptions(m: Material) {
  return { cert: m.certChainPem, key: m.keyPem, ca: m.bundlePem };
}

/** Why the caller may not use the token endpoint, or undefined when it may. */
export function refuseCaller(req: IncomingMessage, cfg: InternalTls): string | undefined {
  const socket = req.socket as TLSSocket;
  if (typeof socket.getPeerCertificate !== "function") return "TLS required";
  if (!socket.authorized) return "a client certificate from the mesh's CA is required";
  try {
    const id = workloadIdOf(socket.getPeerCertificate().subjectaltname, cfg.trustDomain);
    if (!cfg.callerRoles.includes(id.role)) return `role ${id.role} may not fetch tokens`;
    return undefined;
  } catch (e) {
    if (e instanceof IdentityError) return e.message;
    throw e;
  }
}
