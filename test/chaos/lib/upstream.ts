// The protected API behind Envoy. It trusts nothing the gateway did: every
// request's bearer JWT is verified here again (RS256 signature against the
// OP's JWKS, issuer, audience, expiry, no clock tolerance), and a request
// without one, or carrying the session cookie, is counted as a violation —
// the figure that says whether any fault let a request through unauthenticated.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { createLocalJWKSet, errors, type JSONWebKeySet, jwtVerify } from "jose";
import { onCleanup } from "../../harness/index.js";

export interface Violation {
  at: number;
  reason: string;
  path: string;
}

export interface UpstreamCounts {
  /** Requests that reached the upstream. */
  received: number;
  /** Of those, with a JWT that verified. */
  verified: number;
  /** Of those, without a valid JWT or with the session cookie (must stay 0). */
  violations: number;
  byReason: Record<string, number>;
}

export interface Upstream {
  port: number;
  counts: UpstreamCounts;
  /** The first violations (at most 20), for the report. */
  samples: Violation[];
  stop(): Promise<void>;
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (err instanceof errors.JWKSNoMatchingKey) return "unknown key";
  return `invalid token (${(err as Error).name})`;
}

async function check(
  req: IncomingMessage,
  keys: ReturnType<typeof createLocalJWKSet>,
  issuer: string,
  audience: string,
  cookiePrefix: string,
): Promise<{ sub?: string; violation?: string }> {
  if ((req.headers.cookie ?? "").includes(cookiePrefix)) return { violation: "session cookie upstream" };
  const auth = req.headers.authorization;
  if (!auth) return { violation: "no token" };
  const m = /^Bearer ([A-Za-z0-9_.-]+)$/.exec(auth);
  if (!m) return { violation: "malformed authorization" };
  try {
    const { payload } = await jwtVerify(m[1], keys, { issuer, audience, algorithms: ["RS256"] });
    return { sub: String(payload.sub ?? "") };
  } catch (err) {
    return { violation: reasonOf(err) };
  }
}

/**
 * `jwks` is fetched once by the caller while the OP is up: the upstream keeps
 * verifying while the OP is down (as a resource server with a cached JWKS would).
 */
export async function startUpstream(o: {
  jwks: JSONWebKeySet;
  issuer: string;
  audience: string;
  cookiePrefix: string;
}): Promise<Upstream> {
  const keys = createLocalJWKSet(o.jwks);
  const counts: UpstreamCounts = { received: 0, verified: 0, violations: 0, byReason: {} };
  const samples: Violation[] = [];
  const server = createServer((req, res) => {
    counts.received++;
    req.resume();
    check(req, keys, o.issuer, o.audience, o.cookiePrefix).then(({ sub, violation }) => {
      if (violation) {
        counts.violations++;
        counts.byReason[violation] = (counts.byReason[violation] ?? 0) + 1;
        if (samples.length < 20) samples.push({ at: Date.now(), reason: violation, path: req.url ?? "" });
      } else counts.verified++;
      // A naive upstream would serve it anyway: answer 200 so the gateway's
      // figures are not what exposes a violation, this counter is.
      const body = JSON.stringify(violation ? { violation } : { sub });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const stop = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  const unregister = onCleanup(stop);
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    samples,
    stop: async () => {
      unregister();
      await stop();
    },
  };
}
