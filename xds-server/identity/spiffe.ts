// Workload identities: spiffe://<trust-domain>/<role>/<name>. One naming
// scheme for every certificate the control plane issues or accepts, so the
// same string is checked on ADS, on the Envoy→BFF call and between sidecars.

export const ROLES = ["gateway", "sidecar", "bff", "xds-server"] as const;
export type Role = (typeof ROLES)[number];

export interface WorkloadId {
  trustDomain: string;
  role: Role;
  /** Gateway node id, sidecar service name (node.cluster), BFF or xds-server instance. */
  name: string;
}

export class IdentityError extends Error {}

// SPIFFE ID spec §2.1: lowercase letters, digits, '.', '-', '_'.
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
// Names end up in Envoy node ids, cluster names and file names: no '/', no '%'.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkTrustDomain(td: string): string {
  if (!TRUST_DOMAIN.test(td) || td.startsWith(".") || td.endsWith(".") || td.includes(".."))
    throw new IdentityError(
      `trust domain: expected lowercase letters, digits, '.', '-', '_' (like example.org), got ${JSON.stringify(td)}`,
    );
  return td;
}

export function checkRole(role: string): Role {
  if (!(ROLES as readonly string[]).includes(role))
    throw new IdentityError(`role: expected one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
  return role as Role;
}

export function checkName(name: string): string {
  if (!NAME.test(name))
    throw new IdentityError(
      `name: expected 1-128 of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(name)}`,
    );
  return name;
}

export function spiffeId(id: WorkloadId): string {
  return `spiffe://${checkTrustDomain(id.trustDomain)}/${checkRole(id.role)}/${checkName(id.name)}`;
}

/** The trust domain's own id (a root certificate's URI SAN). */
export function trustDomainId(td: string): string {
  return `spiffe://${checkTrustDomain(td)}`;
}

/** Parses a workload id; anything else (other schemes, paths, query, port, userinfo) is refused. */
export function parseSpiffeId(uri: string): WorkloadId {
  const m = /^spiffe:\/\/([^/?#]+)\/([^/?#]+)\/([^/?#]+)$/.exec(uri);
  if (!m)
    throw new IdentityError(
      `not a workload id spiffe://<trust-domain>/<role>/<name>: ${JSON.stringify(uri)}`,
    );
  return { trustDomain: checkTrustDomain(m[1]), role: checkRole(m[2]), name: checkName(m[3]) };
}

/** URI SANs of a node:crypto X509Certificate's subjectAltName string. */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  // Node renders "URI:spiffe://a/b, DNS:x"; values holding ", " or quotes are
  // JSON-quoted, and a quoted URI is never a valid SPIFFE id, so it is dropped.
  return subjectAltName
    .split(", ")
    .filter((p) => p.startsWith("URI:"))
    .map((p) => p.slice(4));
}

/**
 * The workload id a certificate names: exactly one spiffe:// URI SAN (X.509-SVID
 * spec §2), in `trustDomain`. Anything else is refused.
 */
export function workloadIdOf(subjectAltName: string | undefined, trustDomain: string): WorkloadId {
  const spiffe = uriSans(subjectAltName).filter((u) => u.startsWith("spiffe://"));
  if (spiffe.length !== 1)
    throw new IdentityError(`certificate must carry exactly one spiffe:// URI SAN, found ${spiffe.length}`);
  const id = parseSpiffeId(spiffe[0]);
  if (id.trustDomain !== trustDomain)
    throw new IdentityError(`certificate is for trust domain ${id.trustDomain}, expected ${trustDomain}`);
  return id;
}
