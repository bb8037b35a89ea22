// An issued workload identity written as the three files a bootstrap or the
// BFF's `internal.tls` reads (certificate chain, private key at 0600, trust bundle).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { IssuedIdentity } from "../../xds-server/identity/ca.js";

export interface IdentityFiles {
  cert: string;
  key: string;
  ca: string;
}

export function writeIdentityFiles(dir: string, name: string, id: IssuedIdentity): IdentityFiles {
  const f = {
    cert: join(dir, `${name}.pem`),
    key: join(dir, `${name}.key`),
    ca: join(dir, `${name}-ca.pem`),
  };
  writeFileSync(f.cert, id.certChainPem);
  writeFileSync(f.key, id.keyPem, { mode: 0o600 });
  writeFileSync(f.ca, id.bundlePem);
  return f;
}
