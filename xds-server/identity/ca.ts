// A small certificate authority for workload identities: a root generated for
// local use (`sessiongate certs init`) or a CA certificate and key from files
// (e.g. an intermediate issued by cert-manager or Vault), issuing short-lived
// leaf certificates whose only URI SAN is the workload's SPIFFE id.
// X.509 encoding is @peculiar/x509's; keys are WebCrypto keys from node:crypto.
import { createPrivateKey, X509Certificate as NodeX509, randomBytes, webcrypto } from "node:crypto";
// @peculiar/x509 resolves its algorithm providers through tsyringe, which needs
// the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { pemBlocks } from "./pem.js";
import { checkTrustDomain, IdentityError, type Role, spiffeId, trustDomainId, uriSans } from "./spiffe.js";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SignAlg = webcrypto.Algorithm | webcrypto.EcdsaParams;
const crypto = webcrypto;
const EC = { name: "ECDSA", namedCurve: "P-256" } as const;
const EC_SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
/** Leaves may start a minute early: clocks across a mesh are never exactly equal. */
const BACKDATE_MS = 60_000;

export interface IssueRequest {
  role: Role;
  name: string;
  /** Lifetime in seconds (short: rotation is the revocation mechanism). */
  ttlSeconds: number;
  /** Extra DNS / IP SANs, for servers that clients reach by host name (the xds-server). */
  dnsNames?: string[];
  ipAddresses?: string[];
}

export interface IssuedIdentity {
  spiffeId: string;
  /** Leaf first, then the issuing CA's chain below the root (PEM). */
  certChainPem: string;
  /** PKCS#8 PEM of the leaf's private key. */
  keyPem: string;
  /** The trust bundle (roots) a peer verifies this certificate against. */
  bundlePem: string;
  notAfter: Date;
}

export interface CaFiles {
  /** The signing CA certificate, optionally followed by its chain (PEM). */
  certPem: string;
  keyPem: string;
  /** Roots peers trust; default: the self-signed certificates of certPem. */
  bundlePem?: string;
  /** Required when the CA certificate names no spiffe:// trust domain. */
  trustDomain?: string;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive INTEGER
  return b.toString("hex");
}

async function importSigningKey(keyPem: string): Promise<{ key: CryptoKey; alg: SignAlg }> {
  let ko: ReturnType<typeof createPrivateKey>;
  try {
    ko = createPrivateKey(keyPem);
  } catch (e) {
    throw new IdentityError(`CA key: not a PEM private key (${(e as Error).message})`);
  }
  const der = ko.export({ format: "der", type: "pkcs8" });
  if (ko.asymmetricKeyType === "ec") {
    const curve = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" }[
      ko.asymmetricKeyDetails?.namedCurve ?? ""
    ];
    if (!curve) throw new IdentityError(`CA key: unsupported curve ${ko.asymmetricKeyDetails?.namedCurve}`);
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: curve }, false, [
      "sign",
    ]);
    return { key, alg: { name: "ECDSA", hash: curve === "P-256" ? "SHA-256" : "SHA-384" } };
  }
  if (ko.asymmetricKeyType === "rsa") {
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const key = await crypto.subtle.importKey("pkcs8", der, alg, false, ["sign"]);
    return { key, alg };
  }
  throw new IdentityError(`CA key: unsupported key type ${ko.asymmetricKeyType} (use EC or RSA)`);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

export class CertificateAuthority {
  private constructor(
    readonly trustDomain: string,
    /** The signing certificate (PEM) and what lies between it and the root. */
    private readonly caCert: x509.X509Certificate,
    private readonly chainBelowRootPem: string,
    readonly bundlePem: string,
    private readonly signingKey: CryptoKey,
    private readonly signingAlg: SignAlg,
    readonly keyPem: string,
  ) {}

  get certPem(): string {
    return this.caCert.toString("pem");
  }

  get notAfter(): Date {
    return this.caCert.notAfter;
  }

  /** A new self-signed root (ECDSA P-256) for `trustDomain`. */
  static async generate(trustDomain: string, validityDays = 3650): Promise<CertificateAuthority> {
    checkTrustDomain(trustDomain);
    const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serial(),
        name: `CN=sessiongate root CA, O=${trustDomain}`,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + validityDays * 86_400_000),
        signingAlgorithm: EC_SIGN,
        keys,
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
            true,
          ),
          new x509.SubjectAlternativeNameExtension([{ type: "url", value: trustDomainId(trustDomain) }]),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    const keyPem = await exportKeyPem(keys.privateKey);
    return CertificateAuthority.fromPem({ certPem: cert.toString("pem"), keyPem });
  }

  /**
   * A CA from PEM files. Refused (IdentityError) unless the first certificate
   * is a CA certificate, currently valid, matching the key, and chaining to the
   * bundle; the trust domain comes from its spiffe:// URI SAN or `trustDomain`.
   */
  static async fromPem(files: CaFiles): Promise<CertificateAuthority> {
    const certs = pemBlocks(files.certPem, "CERTIFICATE").map((p) => new NodeX509(p));
    if (certs.length === 0) throw new IdentityError("CA certificate: no PEM CERTIFICATE block");
    const ca = certs[0];
    if (!ca.ca) throw new IdentityError("CA certificate: basicConstraints CA is not set");
    const now = Date.now();
    if (Date.parse(ca.validTo) <= now) throw new IdentityError(`CA certificate: expired at ${ca.validTo}`);
    if (Date.parse(ca.validFrom) > now + BACKDATE_MS)
      throw new IdentityError(`CA certificate: not valid before ${ca.validFrom}`);
    const { key, alg } = await importSigningKey(files.keyPem);
    if (!ca.checkPrivateKey(createPrivateKey(files.keyPem)))
      throw new IdentityError("CA key: does not match the CA certificate");
    const selfSigned = (c: NodeX509) => c.checkIssued(c) && c.verify(c.publicKey);
    const bundle = files.bundlePem
      ? pemBlocks(files.bundlePem, "CERTIFICATE").map((p) => new NodeX509(p))
      : certs.filter(selfSigned);
    if (bundle.length === 0)
      throw new IdentityError("CA bundle: the CA certificate is not self-signed; give the root bundle too");
    for (let i = 0; i + 1 < certs.length; i++)
      if (!certs[i].verify(certs[i + 1].publicKey))
        throw new IdentityError(
          `CA certificate chain: certificate ${i} is not signed by certificate ${i + 1}`,
        );
    const top = certs[certs.length - 1];
    if (!bundle.some((r) => top.checkIssued(r) && top.verify(r.publicKey)))
      throw new IdentityError("CA certificate chain: does not lead to a root of the bundle");
    const named = uriSans(ca.subjectAltName).filter((u) => u.startsWith("spiffe://"));
    const fromCert = named.length ? /^spiffe:\/\/([^/]+)\/?$/.exec(named[0])?.[1] : undefined;
    if (named.length && !fromCert)
      throw new IdentityError(`CA certificate: URI SAN ${named[0]} is not a trust domain id`);
    if (fromCert && files.trustDomain && fromCert !== files.trustDomain)
      throw new IdentityError(
        `CA certificate is for trust domain ${fromCert}, configured trust domain is ${files.trustDomain}`,
      );
    const td = fromCert ?? files.trustDomain;
    if (!td) throw new IdentityError("CA certificate names no spiffe:// trust domain: set the trust domain");
    checkTrustDomain(td);
    const chainBelowRoot = certs.filter((c) => !selfSigned(c)).map((c) => c.toString());
    return new CertificateAuthority(
      td,
      new x509.X509Certificate(ca.raw),
      chainBelowRoot.join(""),
      bundle.map((c) => c.toString()).join(""),
      key,
      alg,
      files.keyPem,
    );
  }

  /** Issues a leaf certificate (ECDSA P-256, serverAuth + clientAuth) for a workload. */
  async issue(req: IssueRequest): Promise<IssuedIdentity> {
    const id = spiffeId({ trustDomain: this.trustDomain, role: req.role, name: req.name });
    if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds < 60 || req.ttlSeconds > 366 * 86_400)
      throw new IdentityError(`ttl: expected 60 s .. 366 days, got ${req.ttlSeconds} s`);
    const now = Date.now();
    let notAfter = new Date(now + req.ttlSeconds * 1000);
    // A leaf never outlives its issuer (peers would refuse it from then on).
    if (notAfter > this.caCert.notAfter) notAfter = this.caCert.notAfter;
    const keys = (await crypto.subtle.generateKey(EC, true, ["sign", "verify"])) as CryptoKeyPair;
    const sans: x509.JsonGeneralName[] = [
      { type: "url", value: id },
      ...(req.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(req.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: serial(),
        subject: `CN=${req.name}, OU=${req.role}, O=${this.trustDomain}`,
        issuer: this.caCert.subjectName,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter,
        signingAlgorithm: this.signingAlg,
        publicKey: keys.publicKey,
        signingKey: this.signingKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([
            x509.ExtendedKeyUsage.serverAuth,
            x509.ExtendedKeyUsage.clientAuth,
          ]),
          new x509.SubjectAlternativeNameExtension(sans),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
          await x509.AuthorityKeyIdentifierExtension.create(this.caCert, false, crypto),
        ],
      },
      crypto,
    );
    return {
      spiffeId: id,
      certChainPem: cert.toString("pem") + (this.chainBelowRootPem ? `\n${this.chainBelowRootPem}` : "\n"),
      keyPem: await exportKeyPem(keys.privateKey),
      bundlePem: this.bundlePem,
      notAfter,
    };
  }
}
