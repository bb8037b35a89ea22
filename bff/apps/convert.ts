// A BffApp from the directory stream -> the same AppConfig a file app gets,
// through the file validator (one set of rules: __Host- cookie, scopes, URLs).
import type { BffApp } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { type AppConfig, ConfigError, parseApp } from "../config/schema.js";

/**
 * `<public origin><path_prefix without trailing '/'><bff prefix>/<id>`: where
 * Envoy routes the app's BFF routes (xds-server/translate/routes.ts joinPrefix).
 */
export function appBase(a: Pick<BffApp, "publicOrigin" | "pathPrefix" | "id">, prefix: string): string {
  return `${a.publicOrigin}${routeBase(a.pathPrefix)}${prefix}/${a.id}`;
}

const routeBase = (pathPrefix: string) =>
  pathPrefix === "/" || !pathPrefix ? "" : pathPrefix.replace(/\/$/, "");

/** Throws ConfigError naming the field (as `registry app <id>.<field>`). */
export function fromDirectory(a: BffApp, prefix: string, allowInsecureIssuer: boolean): AppConfig {
  const at = `registry app ${a.id}`;
  if (!a.clientSecret) throw new ConfigError(`${at}.client_secret`, "is empty");
  if (!allowInsecureIssuer && a.issuer.startsWith("http:"))
    throw new ConfigError(`${at}.issuer`, "is http:// (allow_insecure_issuer is off)");
  const base = appBase(a, prefix);
  const app = parseApp(
    {
      id: a.id,
      mode: a.mode,
      issuer: a.issuer,
      client_id: a.clientId,
      client_secret: a.clientSecret,
      redirect_uri: `${base}/callback`,
      // A group's default is its own logout callback (bff/oidc/group-logout.ts).
      post_logout_redirect_uri: a.postLogoutRedirectUri || (a.group ? undefined : `${base}/logout/callback`),
      scopes: a.scopes,
      cookie: a.cookieName,
      public_origin: a.publicOrigin,
      allowed_origins: a.allowedOrigins,
      auth_params: { ...a.authParams },
      group: a.group || undefined,
    },
    at,
    new Set(),
  );
  return { ...app, routeBase: routeBase(a.pathPrefix), source: "registry" };
}
