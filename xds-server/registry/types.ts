// Domain types of the registry. The API layer converts protobuf messages to
// these; the translator reads only these (never the wire types).

export type SessionMode = "bff" | "tokenExchange";
export type FailMode = "closed" | "open";

export interface HostPort {
  host: string;
  port: number;
}

export interface ClaimHeader {
  claim: string;
  header: string;
}

export interface AppSpec {
  id: string;
  hosts: string[];
  pathPrefix: string;
  oidc: {
    issuer: string;
    clientId: string;
    scopes: string[];
    /** BFF side (absent: defaults, see BffDirectory): the app's browser origin. */
    publicOrigin?: string;
    postLogoutRedirectUri?: string;
    /** Extra authorization request parameters (e.g. resource). */
    authParams?: Record<string, string>;
  };
  session: { mode: SessionMode; cookieName: string; allowedOrigins: string[] };
  upstreams: HostPort[];
  jwt: {
    issuer: string;
    audiences: string[];
    remoteJwksUri: string;
    claimHeaders: ClaimHeader[];
    jwksCacheDurationS: number;
  };
  extAuthz?: HostPort & { timeoutMs: number; failMode: FailMode };
  /** allowedCallers: SPIFFE ids the inbound listener admits (mesh only); absent: any of the trust domain. */
  sidecar?: { service: string; inboundPort: number; allowedCallers?: string[] };
  /** Paths served without a session or JWT: "/x" exact, "/x/*" prefix (absent: none). */
  publicPaths?: string[];
  /** App group sharing one provider client (absent: none; docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps). */
  group?: string;
}

export interface AppRecord {
  spec: AppSpec;
  /**
   * Write-only client secret, sealed by the API layer (registry/secrets.ts)
   * before it reaches a store: stores only ever hold ciphertext.
   */
  clientSecret: string;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** Immutable view of the whole registry at one revision. */
export interface RegistrySnapshot {
  revision: number;
  /** Sorted by id. */
  apps: AppRecord[];
  /**
   * The apps written or deleted since `from` (the snapshot this one was made
   * from, by the same store): a reader that holds `from` looks only at these
   * ids. Absent: compare every app. Only the latest step is kept (the store
   * clears it on the next one), so snapshots do not chain.
   */
  changes?: { from: RegistrySnapshot; ids: ReadonlySet<string> };
}

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

export interface ChangeEvent {
  type: ChangeType;
  id: string;
  app?: AppRecord;
  revision: number;
}

/** Errors with a gRPC-mappable kind; the API layer maps kind -> status code. */
export type RegistryErrorKind =
  | "INVALID_ARGUMENT"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "NOT_FOUND"
  | "UNAVAILABLE";

export class RegistryError extends Error {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "RegistryError";
  }
}

/**
 * The (host, path prefix) pairs an app routes: its own prefix and, when the
 * BFF prefix is given, the BFF routes under it (`<prefix><bffPrefix>`). Two
 * apps may not claim the same pair, so no app can take over another's
 * login/callback routes.
 */
export function routeKeys(spec: AppSpec, bffPrefix = ""): string[] {
  const paths = [spec.pathPrefix];
  if (bffPrefix) paths.push((spec.pathPrefix === "/" ? "" : spec.pathPrefix) + bffPrefix);
  return spec.hosts.flatMap((h) => paths.map((p) => `${h.toLowerCase()}|${p}`)).sort();
}

export function routeConflict(key: string, owner: string): RegistryError {
  const [host, path] = key.split("|");
  return new RegistryError(
    "FAILED_PRECONDITION",
    `hosts: ${host} path ${path} is already routed to app ${owner}`,
    "hosts",
  );
}
