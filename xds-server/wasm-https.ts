// The wasm module over mTLS, for meshed Envoys: the server presents its
// workload certificate (rotated with it), and only clients with a gateway or
// sidecar certificate from the trust bundle get the module. The plaintext HTTP port
// then serves only /metrics and the health endpoints.
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { MaterialPem } from "./identity/material.js";
import { IdentityError, workloadIdOf } from "./identity/spiffe.js";

export const WASM_PATH = "/wasm/session-to-token.wasm";

interface Source {
  readonly current: MaterialPem;
  onChange(cb: (m: MaterialPem) => void): () => void;
}

const tlsOptions = (m: MaterialPem) => ({ cert: m.certChainPem, key: m.keyPem, ca: m.bundlePem });

export async function startWasmHttps(o: {
  wasm: { bytes: Buffer; sha256: string };
  identity: Source;
  trustDomain: string;
  address: string;
  port: number;
  onFetch: () => void;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer(
    { ...tlsOptions(o.identity.current), requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    (req, res) => {
      let role = "";
      try {
        role = workloadIdOf(
          (req.socket as TLSSocket).getPeerCertificate().subjectaltname,
          o.trustDomain,
        ).role;
      } catch (e) {
        if (!(e instanceof IdentityError)) throw e;
      }
      if (role !== "gateway" && role !== "sidecar") {
        res.writeHead(403, { "content-type": "application/json" });
        res.end('{"error":"forbidden","error_description":"a gateway or sidecar certificate is required"}');
        return;
      }
      if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== WASM_PATH) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"not_found"}');
        return;
      }
      o.onFetch();
      res.writeHead(200, {
        "content-type": "application/wasm",
        "content-length": o.wasm.bytes.length,
        "x-sha256": o.wasm.sha256,
      });
      res.end(o.wasm.bytes);
    },
  );
  const unwatch = o.identity.onChange((m) => server.setSecureContext(tlsOptions(m)));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.address, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        unwatch();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
