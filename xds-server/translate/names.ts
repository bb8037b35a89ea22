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
export const extAuthzFilterName = (id: string) => `envoy.filters.http.ext_authz.${id}`;
export const sidecarListener = (id: string) => `sg_sidecar_${id}`;
export const sidecarRoutes = (id: string) => `sg_sidecar_${id}`;

/** Route header naming the app (overwrites any client value). */
export const appHeader = (id: string) => [
  { header: { key: HEADER.app, value: id }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
];

export const JWT_FILTER = "envoy.filters.http.jwt_authn";
export const WASM_FILTER = "envoy.filters.http.wasm";
