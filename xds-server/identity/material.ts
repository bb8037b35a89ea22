// A workload's TLS material (its certificate chain, private key and the trust
// bundle it verifies peers with), checked before use: a bad set is refused as
// a whole, so a half-written rotation never replaces working material.
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { pemBlocks } from "./pem.js";
import { IdentityError, type WorkloadId, workloadIdOf } from "./spiffe.js";

export interface MaterialFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface MaterialPem {
  certChainPem: string;
  keyPem: string;
  bundlePem: string;
}

export interface Material extends MaterialPem {
  leaf: X509Certificate;
  /** The SPIFFE id the leaf names, when a trust domain was given to check it against. */
  id?: WorkloadId;
  notAfter: Date;
  /** Content digest: equal material is not re-applied. */
  digest: string;
}

export interface ValidateOptions {
  /** Require the leaf to name exactly one workload id in this trust domain. */
  trustDomain?: string;
  now?: number;
}

/** Checks a chain, key and bundle belong together and are valid now. */
export function validateMaterial(pem: MaterialPem, opts: ValidateOptions = {}): Material {
  const now = opts.now ?? Date.now();
  const chain = pemBlocks(pem.certChainPem, "CERTIFICATE").map((p) => new X509Certificate(p));
  if (chain.length === 0) throw new IdentityError("certificate: no PEM CERTIFICATE block");
  const roots = pemBlocks(pem.bundlePem, "CERTIFICATE").map((p) => new X509Certificate(p));
  if (roots.length === 0) throw new IdentityError("CA bundle: no PEM CERTIFICATE block");
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pem.keyPem);
  } catch (e) {
    throw new IdentityError(`key: not a PEM private key (${(e as Error).message})`);
  }
  const leaf = chain[0];
  if (!leaf.checkPrivateKey(key)) throw new IdentityError("key: does not match the certificate");
  for (const [i, c] of chain.entries()) {
    if (Date.parse(c.validTo) <= now) throw new IdentityError(`certificate ${i}: expired at ${c.validTo}`);
    if (Date.parse(c.validFrom) > now)
      throw new IdentityError(`certificate ${i}: not valid before ${c.validFrom}`);
    if (i + 1 < chain.length && !(c.checkIssued(chain[i + 1]) && c.verify(chain[i + 1].publicKey)))
      throw new IdentityError(`certificate ${i}: not issued by certificate ${i + 1} of the chain`);
  }
  const top = chain[chain.length - 1];
  const anchored = roots.some(
    (r) => top.fingerprint256 === r.fingerprint256 || (top.checkIssued(r) && top.verify(r.publicKey)),
  );
  if (!anchored) throw new IdentityError("certificate: does not chain to a root of the CA bundle");
  const id = opts.trustDomain ? workloadIdOf(leaf.subjectAltName, opts.trustDomain) : undefined;
  const digest = createHash("sha256")
    .update(pem.certChainPem)
    .update("\0")
    .update(pem.keyPem)
    .update("\0")
    .update(pem.bundlePem)
    .digest("hex");
  return { ...pem, leaf, id, notAfter: new Date(leaf.validTo), digest };
}

export function readMaterial(files: MaterialFiles, opts: ValidateOptions = {}): Material {
  const read = (what: string, f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch (e) {
      throw new IdentityError(`${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  return validateMaterial(
    {
      certChainPem: read("certificate", files.certFile),
      keyPem: read("key", files.keyFile),
      bundlePem: read("CA bundle", files.caFile),
    },
    opts,
  );
}
