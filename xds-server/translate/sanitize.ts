// Identity headers set by jwt_authn (claim_to_headers) are stripped from the
// client's request first: jwt_authn overwrites them only when the claim is in
// the token, so without this a client could send `x-user: admin` and have it
// reach the upstream whenever the token lacks that claim.
import type { AppRecord } from "../registry/types.js";
import type { Feature, FilterJson } from "./feature.js";
import { TYPE } from "./types.js";

export const SANITIZE_FILTER = "sessiongate.strip_identity_headers";

function stripFilter(headers: string[]): FilterJson {
  return {
    name: SANITIZE_FILTER,
    typed_config: {
      "@type": TYPE.headerMutation,
      mutations: { request_mutations: headers.map((h) => ({ remove: h })) },
    },
  };
}

export const stripIdentityHeaders: Feature = {
  name: "strip-identity-headers",
  httpFilters({ role, apps }) {
    const shaping = apps.filter((a: AppRecord) => a.spec.jwt.claimHeaders.length);
    const headers = [...new Set(shaping.flatMap((a) => a.spec.jwt.claimHeaders.map((c) => c.header)))].sort();
    // On the gateway the filter holds its place in the chain, removing nothing,
    // before any app has claim headers: the listener must not change when the
    // first one comes (listeners.ts).
    if (headers.length === 0 && role === "sidecar") return [];
    return [{ json: stripFilter(headers), apps: shaping.map((a) => a.spec.id) }];
  },
};
