// An external OpenID provider (Keycloak, Okta, Auth0…) for the demo, from
// environment variables; without DEMO_ISSUER the demo runs its own OP.
export interface ExternalIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The `aud` of the provider's access tokens, checked by Envoy's jwt_authn. */
  audience: string;
  /** Unset: the xds-server reads it from the issuer's discovery document. */
  jwksUri?: string;
  /** The `iss` of the access tokens, when it differs from the OIDC issuer. */
  jwtIssuer?: string;
  scopes?: string[];
  /** Extra authorization parameters, e.g. Auth0's {"audience": "…"}. */
  authParams?: Record<string, string>;
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required when DEMO_ISSUER is set (see test/demo/README.md)`);
  return v;
}

export function externalIdpFromEnv(): ExternalIdp | null {
  const issuer = process.env.DEMO_ISSUER;
  if (!issuer) return null;
  return {
    issuer,
    clientId: need("DEMO_CLIENT_ID"),
    clientSecret: need("DEMO_CLIENT_SECRET"),
    audience: need("DEMO_AUDIENCE"),
    jwksUri: process.env.DEMO_JWKS_URI || undefined,
    jwtIssuer: process.env.DEMO_JWT_ISSUER,
    scopes: process.env.DEMO_SCOPES?.split(/[\s,]+/).filter(Boolean),
    authParams: process.env.DEMO_AUTH_PARAMS ? JSON.parse(process.env.DEMO_AUTH_PARAMS) : undefined,
  };
}
