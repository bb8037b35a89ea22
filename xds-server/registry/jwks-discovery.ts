// Fills in an app's JWKS URI from its issuer's OpenID discovery document when
// the registration leaves `jwt.remote_jwks_uri` out. Runs once, at create or
// update time, so the stored spec (what the translator and GetApp read) always
// names the URI Envoy fetches; a discovery that fails refuses the registration.
import { type AppSpec, RegistryError } from "./types.js";

const FIELD = "jwt.remote_jwks_uri";
/** A discovery document is a few KB; anything far larger is not one. */
const MAX_BYTES = 256 * 1024;

export interface JwksDiscoveryOptions {
  /** Per request (default 5000 ms). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

function refuse(why: string): never {
  throw new RegistryError("INVALID_ARGUMENT", `${FIELD}: ${why}`, FIELD);
}

/** https, or http on a loopback host: the same rule as every URL of a registration. */
function allowedUrl(v: string): URL | null {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return null;
  }
  const loopback =
    ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname) || u.hostname.endsWith(".localhost");
  if (u.username || u.password || u.hash) return null;
  return u.protocol === "https:" || (u.protocol === "http:" && loopback) ? u : null;
}

async function readCapped(res: Response): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > MAX_BYTES) throw new Error(`document larger than ${MAX_BYTES} bytes`);
  const body = await res.arrayBuffer();
  if (body.byteLength > MAX_BYTES) throw new Error(`document larger than ${MAX_BYTES} bytes`);
  return new TextDecoder().decode(body);
}

/** The `jwks_uri` of `issuer`'s discovery document (OpenID Connect Discovery 1.0 §4). */
export async function discoverJwksUri(issuer: string, opts: JwksDiscoveryOptions = {}): Promise<string> {
  if (!allowedUrl(issuer))
    refuse(
      `not given, and jwt.issuer ${JSON.stringify(issuer.slice(0, 100))} is not an https (or loopback http) URL to discover it from`,
    );
  const where = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let doc: { issuer?: unknown; jwks_uri?: unknown };
  try {
    const res = await (opts.fetch ?? fetch)(where, {
      signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      // A redirect would let the document come from somewhere the issuer did not name.
      redirect: "error",
      headers: { accept: "application/json" },
    });
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      throw new Error(`HTTP ${res.status}`);
    }
    doc = JSON.parse(await readCapped(res));
  } catch (err) {
    const e = err as Error & { cause?: Error };
    refuse(
      `not given, and discovery at ${where} failed (${e.cause?.message ?? e.message}); give it explicitly`,
    );
  }
  // §4.3: the document's issuer must be the one it was fetched for.
  if (typeof doc?.issuer !== "string" || doc.issuer.replace(/\/+$/, "") !== issuer.replace(/\/+$/, ""))
    refuse(
      `not given, and ${where} names issuer ${JSON.stringify(doc?.issuer)}, not ${JSON.stringify(issuer)}`,
    );
  if (typeof doc.jwks_uri !== "string" || !allowedUrl(doc.jwks_uri))
    refuse(`not given, and ${where} has no usable jwks_uri (${JSON.stringify(doc.jwks_uri)})`);
  return doc.jwks_uri;
}

/** `spec` with `jwt.remoteJwksUri` discovered when it is empty; otherwise `spec` itself. */
export async function withJwksUri(spec: AppSpec, opts: JwksDiscoveryOptions = {}): Promise<AppSpec> {
  if (spec.jwt.remoteJwksUri) return spec;
  const remoteJwksUri = await discoverJwksUri(spec.jwt.issuer, opts);
  return { ...spec, jwt: { ...spec.jwt, remoteJwksUri } };
}

/**
 * Discovery for one batch (ApplyApps): each issuer's document is fetched once
 * however many apps name it, concurrent lookups of one issuer share the fetch,
 * and at most `maxIssuers` distinct issuers are discovered (an app over the
 * bound is refused, asking for its URI).
 */
export class BatchJwksDiscovery {
  private readonly byIssuer = new Map<string, Promise<string>>();

  constructor(
    private readonly opts: JwksDiscoveryOptions = {},
    readonly maxIssuers = 32,
  ) {}

  /** How many discovery documents were (or are being) fetched. */
  get fetched(): number {
    return this.byIssuer.size;
  }

  async withJwksUri(spec: AppSpec): Promise<AppSpec> {
    if (spec.jwt.remoteJwksUri) return spec;
    let uri = this.byIssuer.get(spec.jwt.issuer);
    if (!uri) {
      if (this.byIssuer.size >= this.maxIssuers)
        refuse(
          `not given, and this batch already discovers ${this.maxIssuers} issuers' JWKS URIs (the bound per batch); give it explicitly`,
        );
      uri = discoverJwksUri(spec.jwt.issuer, this.opts);
      uri.catch(() => {}); // each app awaiting it gets the error
      this.byIssuer.set(spec.jwt.issuer, uri);
    }
    return { ...spec, jwt: { ...spec.jwt, remoteJwksUri: await uri } };
  }
}
