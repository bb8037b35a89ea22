// A grpc-js certificate provider over material that changes (reloaded files or
// re-issued certificates): new TLS handshakes use the newest material, open
// streams keep theirs.
import type { experimental } from "@grpc/grpc-js";
import type { MaterialPem } from "./material.js";

type Provider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdListener = experimental.IdentityCertificateUpdateListener;

export interface MaterialSource {
  readonly current: MaterialPem;
  onChange(cb: (m: MaterialPem) => void): () => void;
}

/** One object for both roles: grpc-js asks it for the CA bundle and for the identity. */
export function certificateProvider(source: MaterialSource): Provider {
  const ca = new Set<CaListener>();
  const id = new Set<IdListener>();
  let unsubscribe: (() => void) | undefined;
  const push = (m: MaterialPem) => {
    for (const l of ca) l({ caCertificate: Buffer.from(m.bundlePem) });
    for (const l of id) l({ certificate: Buffer.from(m.certChainPem), privateKey: Buffer.from(m.keyPem) });
  };
  const watch = () => {
    if (!unsubscribe) unsubscribe = source.onChange(push);
  };
  const unwatch = () => {
    if (ca.size === 0 && id.size === 0) {
      unsubscribe?.();
      unsubscribe = undefined;
    }
  };
  return {
    // The first value is delivered on the next tick: grpc-js registers its
    // own watcher only after adding these listeners, and a value sent before
    // that is lost (the server then drops every connection).
    addCaCertificateListener(l) {
      ca.add(l);
      watch();
      setImmediate(() => ca.has(l) && l({ caCertificate: Buffer.from(source.current.bundlePem) }));
    },
    removeCaCertificateListener(l) {
      ca.delete(l);
      unwatch();
    },
    addIdentityCertificateListener(l) {
      id.add(l);
      watch();
      setImmediate(() => {
        const m = source.current;
        if (id.has(l)) l({ certificate: Buffer.from(m.certChainPem), privateKey: Buffer.from(m.keyPem) });
      });
    },
    removeIdentityCertificateListener(l) {
      id.delete(l);
      unwatch();
    },
  };
}
