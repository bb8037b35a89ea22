// Resource names. Stable across replicas and restarts: derived from app ids
// and addresses only.
import { HEADER } from "../../contracts/rules.js";

export const GATEWAY_LISTENER = "sessiongate_gateway";
export const GATEWAY_ROUTES = "sessiongate_gateway";
export const BFF_PUBLIC = "sessiongate_bff_public";
export const BFF_INTERNAL = "sessiongate_bff_internal";
export const WASM_CODE = "sessiongate_wasm_code";
/** SDS secrets every mTLS node gets over ADS: its own certificate and the trust bundle. */
export const SDS_IDENTITY = "sg_identity";
export const SDS_TRUST = "sg_trust";

const clean = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, "_");

export const appCluster = (id: string) => `sg_app_${id}`;
export const extAuthzCluster = (id: string) => `sg_extauthz_${id}`;
export const jwksCluster = (host: string, port: number) => `sg_jwks_${clean(host)}_${port}`;
/** A sidecar's own ext_authz filter (sidecar listeners carry one app). */
export const extAuthzFilterName = (id: string) => `envoy.filters.http.ext_authz.${id}`;
/** The gateway's fixed ext_authz filters (fail closed / fail open); routes pick the service. */
export const EXT_AUTHZ_CLOSED = "sessiongate.ext_authz";
export const EXT_AUTHZ_OPEN = "sessiongate.ext_authz_fail_open";
/** Their default service: a cluster with no endpoints, so a check without a route setting fails. */
export const EXT_AUTHZ_NONE = "sessiongate_ext_authz_none";
export const sidecarListener = (id: string) => `sg_sidecar_${id}`;
export const sidecarRoutes = (id: string) => `sg_sidecar_${id}`;

/** Route header naming the app (overwrites any client value). */
export const appHeader = (id: string) => [
  { header: { key: HEADER.app, value: id }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
];

export const JWT_FILTER = "envoy.filters.http.jwt_authn";
export const WASM_FILTER = "envoy.filters.http.wasm";
