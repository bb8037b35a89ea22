// Identity headers set by jwt_authn (claim_to_headers) are stripped from the
// client's request first: jwt_authn overwrites them only when the claim is in
// the token, so without this a client could send `x-user: admin` and have it
// reach the upstream whenever the token lacks that claim.
import type { AppRecord } from "../registry/types.js";
import { type Json, TYPE } from "./types.js";

export const SANITIZE_FILTER = "sessiongate.strip_identity_headers";

export function sanitizeFilter(apps: AppRecord[]): Json | undefined {
  const headers = [...new Set(apps.flatMap((a) => a.spec.jwt.claimHeaders.map((c) => c.header)))].sort();
  if (headers.length === 0) return undefined;
  return {
    name: SANITIZE_FILTER,
    typed_config: {
      "@type": TYPE.headerMutation,
      mutations: { request_mutations: headers.map((h) => ({ remove: h })) },
    },
  };
}

/** The same filter removing nothing: it holds the filter's place in the chain before any app has claim headers. */
export function emptySanitizeFilter(): Json {
  return {
    name: SANITIZE_FILTER,
    typed_config: { "@type": TYPE.headerMutation, mutations: { request_mutations: [] } },
  };
}
