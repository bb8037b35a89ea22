// The OP's JWKS endpoint down while its signing key rotates. The OP publishes
// a new key and signs every access token with it from that moment (the worst
// case: no pre-publication), while its /jwks answers 503. Envoy's jwt_authn
// keeps verifying with the JWKS it fetched before (remote_jwks with
// async_fetch: re-fetched every cache_duration, a failed fetch retried after
// failed_refetch_duration) and does not re-fetch for an unknown kid, so every
// token signed with the new key is refused (401) until the JWKS answers again
// and the next fetch has it: fail closed. Tokens of the old key keep working
// (it stays published for a grace period: until the next rotation). Forged
// tokens (a key the OP never had) are sent throughout: none may reach the
// upstream, which verifies every request against the OP's real keys.
import { randomBytes } from "node:crypto";
import { generateKeyPair, SignJWT } from "jose";
import { hostRequest, waitFor } from "../../harness/index.js";
import type { Scenario } from "./scenario.js";
import { HOST, JWKS_CACHE_S, type Stack } from "./stack.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sum of Envoy's jwt_authn counters whose name ends with `suffix` (per filter stat prefix). */
async function jwtStat(stack: Stack, suffix: string): Promise<number> {
  let n = 0;
  for (const [k, v] of await stack.envoy.stats()) if (k.endsWith(suffix)) n += v;
  return n;
}

/** A well-formed access token for a real user, signed by a key the OP never had. */
async function forgedToken(stack: Stack): Promise<string> {
  const { privateKey } = await generateKeyPair("RS256");
  const kid = `forged-${randomBytes(3).toString("hex")}`;
  return new SignJWT({ sub: "alice", scope: "api:read" })
    .setProtectedHeader({ alg: "RS256", kid, typ: "at+jwt" })
    .setIssuer(stack.op.issuer)
    .setAudience(stack.op.audience)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(privateKey);
}

export const jwksRotation: Scenario = {
  name: "jwks-rotation",
  title: "The JWKS endpoint down while the OP's signing key rotates",
  what: "the OP's /jwks answers 503; meanwhile it publishes a new key and signs every new access token with it (the previous key stays published until the next rotation); forged tokens sent throughout",
  inQuick: true,
  fault: async (stack, t, log) => {
    const fetched0 = await jwtStat(stack, "jwks_fetch_success");
    const failed0 = await jwtStat(stack, "jwks_fetch_failed");
    const forged = await forgedToken(stack);
    let forgedSent = 0;
    let forgedRefused = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const r = await hostRequest(
          stack.envoy.port,
          "/api/forged",
          { host: HOST, authorization: `Bearer ${forged}` },
          { timeoutMs: 5000 },
        ).catch(() => null);
        forgedSent++;
        if (r?.status === 401) forgedRefused++;
        await sleep(50);
      }
    })();
    const faultAt = Date.now();
    stack.op.jwksDown = true;
    const previous = stack.op.signingKid;
    // The key two rotations back has had its grace period: withdrawn now.
    for (const kid of stack.op.publishedKids) if (kid !== previous) stack.op.retireKey(kid);
    const kid = stack.op.rotateSigningKey();
    log(`    JWKS down; signing with new key ${kid} (previous ${previous} still published)`);
    // Long enough for every session's token to come due and be re-issued with the new key.
    await sleep(Math.max(0, faultAt + t.opHoldS * 1000 - Date.now()));
    stack.op.jwksDown = false;
    const backAt = Date.now();
    // Envoy's next fetch after the outage (a failed fetch is retried after failed_refetch_duration).
    const refetchedAfterMs = await waitFor(
      "jwt_authn to fetch the JWKS again",
      async () => (await jwtStat(stack, "jwks_fetch_success")) > fetched0,
      30_000,
      50,
    ).then(
      () => Date.now() - backAt,
      () => null,
    );
    await sleep(Math.max(0, backAt + t.postS * 1000 - 500 - Date.now()));
    probing = false;
    await probe;
    return {
      faultAt,
      backAt,
      figures: {
        newKid: kid,
        jwksFetchedAfterBackMs: refetchedAfterMs,
        jwksFetchesFailedDuringOutage: (await jwtStat(stack, "jwks_fetch_failed")) - failed0,
        forgedTokensSent: forgedSent,
        forgedTokensRefused: forgedRefused,
      },
      notes: [
        `The chaos app's jwks_cache_duration_s is ${JWKS_CACHE_S} s: jwt_authn re-fetches the JWKS that often and does not re-fetch for an unknown kid, so a token of a key published less than that ago is refused even without an outage (publish a new key at least cache_duration before signing with it).`,
      ],
      goals: [
        {
          name: "forged tokens (a key the OP never had) refused at the edge",
          target: "all (401)",
          measured: `${forgedRefused} of ${forgedSent}`,
          met: forgedSent > 0 && forgedRefused === forgedSent,
        },
        {
          name: "jwt_authn fetched the JWKS again after the outage",
          target: "yes",
          measured: refetchedAfterMs === null ? "no" : `${refetchedAfterMs} ms after it answered`,
          met: refetchedAfterMs !== null,
        },
      ],
    };
  },
};
