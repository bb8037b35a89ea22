// The apps of a demo stack: each one its own host on the gateway, OP client,
// session cookie, BFF app and demo upstream (the micro-frontend case).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { groupBase, joinPrefix } from "../../contracts/rules.js";
import { renderTemplate } from "../harness/template.js";
import type { ExternalIdp } from "./idp.js";

export type DemoMode = "bff" | "tokenExchange";

export interface DemoAppOptions {
  /** App id, `[a-z0-9][a-z0-9-]*`: in the BFF paths (`/auth/<id>/…`) and the cookie name. */
  id: string;
  /** Session mode (default bff). */
  mode?: DemoMode;
  /**
   * Host name without the port (default `localhost` for a single app, else
   * `<id>.localhost`). Chromium resolves `*.localhost` to loopback and treats
   * it as a secure context, so `__Host-` cookies work over plain HTTP there.
   */
  host?: string;
  /** Session cookie (default `__Host-sg-<id>`). */
  cookieName?: string;
  /** OP client id (default `sessiongate-demo` for the app "demo", else `sessiongate-<id>`). */
  clientId?: string;
  /**
   * Path prefix on its host (default "/"). Several apps may share a host when
   * their prefixes differ (the micro-frontend case on one host).
   */
  pathPrefix?: string;
  /** Public paths (default: the SPA shell for an app on "/", none under a prefix). */
  publicPaths?: string[];
  /**
   * App group: every app of a group shares one OP client (`sessiongate-<group>`,
   * one secret) and one redirect URI per origin (`/auth/_group/<group>/callback`).
   */
  group?: string;
  /**
   * The audience of the app's own API: asked for as `auth_params.resource` and
   * the only one its jwt_authn rule accepts (default: the OP's one audience).
   */
  audience?: string;
}

/** One app as started: where it is and what it is called. */
export interface DemoAppSpec {
  id: string;
  mode: DemoMode;
  /** `host:port`, the Host header Envoy routes by. */
  host: string;
  /** `http://host:port` */
  origin: string;
  /** The SPA: `<origin>/` */
  url: string;
  /** `<origin>/auth/<id>` */
  authBase: string;
  /** Starts a login and comes back to the SPA. */
  loginUrl: string;
  cookieName: string;
  clientId: string;
  clientSecret: string;
  pathPrefix: string;
  publicPaths?: string[];
  group?: string;
  audience?: string;
}

export const DEFAULT_APP_ID = "demo";
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Fills in the defaults and checks the apps can share one gateway. */
export function resolveApps(
  opts: DemoAppOptions[] | undefined,
  port: number,
  bffPrefix: string,
  idp: ExternalIdp | null,
): DemoAppSpec[] {
  const list = opts?.length ? opts : [{ id: DEFAULT_APP_ID }];
  if (idp && list.length > 1)
    throw new Error("an external provider (DEMO_ISSUER) has one client: run a single app with it");
  const seen = new Set<string>();
  // One secret per group: its apps are one client at the provider.
  const groupSecrets = new Map<string, string>();
  return list.map((given) => {
    if (!ID.test(given.id)) throw new Error(`app id ${JSON.stringify(given.id)}: must match ${ID}`);
    // The redirect URIs registered at an external provider name the app id
    // (/auth/demo/callback): its one app stays "demo", `--app` picks only the mode.
    const o = idp ? { ...given, id: DEFAULT_APP_ID } : given;
    const hostname = o.host ?? (list.length === 1 ? "localhost" : `${o.id}.localhost`);
    const pathPrefix = o.pathPrefix ?? "/";
    for (const key of [`id:${o.id}`, `host:${hostname}${pathPrefix}`]) {
      if (seen.has(key)) throw new Error(`two demo apps share the ${key.replace(":", " ")}`);
      seen.add(key);
    }
    const host = `${hostname}:${port}`;
    const origin = `http://${host}`;
    const authBase = `${origin}${joinPrefix(pathPrefix, bffPrefix)}/${o.id}`;
    const home = pathPrefix === "/" ? "/" : `${pathPrefix}/`;
    return {
      id: o.id,
      mode: o.mode ?? "bff",
      host,
      origin,
      url: `${origin}${home}`,
      authBase,
      loginUrl: `${authBase}/login?return_to=${encodeURIComponent(home)}`,
      cookieName: o.cookieName ?? `__Host-sg-${o.id}`,
      clientId:
        idp?.clientId ??
        o.clientId ??
        (o.group
          ? `sessiongate-${o.group}`
          : o.id === DEFAULT_APP_ID
            ? "sessiongate-demo"
            : `sessiongate-${o.id}`),
      clientSecret: idp?.clientSecret ?? groupSecret(groupSecrets, o.group),
      pathPrefix,
      ...(o.publicPaths ? { publicPaths: o.publicPaths } : {}),
      ...(o.group ? { group: o.group } : {}),
      ...(o.audience ? { audience: o.audience } : {}),
    };
  });
}

function groupSecret(secrets: Map<string, string>, group: string | undefined): string {
  if (!group) return randomBytes(24).toString("base64url");
  const s = secrets.get(group) ?? randomBytes(24).toString("base64url");
  secrets.set(group, s);
  return s;
}

/**
 * Where the OP posts back-channel logouts. Through the gateway when Node can
 * resolve the host (`localhost`); Node's resolver does not know `*.localhost`
 * (only browsers map it to loopback), so those go straight to the BFF's public
 * listener, as a provider on a back network would.
 */
export function backchannelUri(app: DemoAppSpec, bffPublic: string, bffPrefix: string): string {
  return new URL(app.origin).hostname === "localhost"
    ? `${app.authBase}/backchannel-logout`
    : `${bffPublic}${bffPrefix}/${app.id}/backchannel-logout`;
}

/** The app's client at the demo OP (oidc-provider client metadata). */
export function opClient(app: DemoAppSpec, bffPublic: string, bffPrefix: string) {
  return {
    client_id: app.clientId,
    client_secret: app.clientSecret,
    redirect_uris: [`${app.authBase}/callback`],
    post_logout_redirect_uris: [app.loginUrl, `${app.authBase}/logout/callback`],
    backchannel_logout_uri: backchannelUri(app, bffPublic, bffPrefix),
    backchannel_logout_session_required: true,
  };
}

/**
 * The clients at the demo OP: one per app, and one per app group with a
 * redirect URI and a post-logout redirect URI per origin of its apps (ten
 * apps on one host: one client, one redirect URI).
 */
export function opClients(apps: DemoAppSpec[], bffPublic: string, bffPrefix: string) {
  const out: ReturnType<typeof opClient>[] = [];
  const groups = new Map<string, ReturnType<typeof opClient>>();
  for (const app of apps) {
    if (!app.group) {
      out.push(opClient(app, bffPublic, bffPrefix));
      continue;
    }
    const base = groupBase(bffPrefix, app.group);
    let c = groups.get(app.group);
    if (!c) {
      const viaGateway = new URL(app.origin).hostname === "localhost";
      c = {
        client_id: app.clientId,
        client_secret: app.clientSecret,
        redirect_uris: [],
        post_logout_redirect_uris: [],
        backchannel_logout_uri: `${viaGateway ? app.origin : bffPublic}${base}/backchannel-logout`,
        backchannel_logout_session_required: true,
      };
      groups.set(app.group, c);
      out.push(c);
    }
    for (const [list, uri] of [
      [c.redirect_uris, `${app.origin}${base}/callback`],
      [c.post_logout_redirect_uris, `${app.origin}${base}/logout/callback`],
    ] as const)
      if (!list.includes(uri)) list.push(uri);
  }
  return out;
}

export interface RegistrationVars {
  issuer: string;
  jwtIssuer: string;
  audience: string;
  /** Unset: left out of the registration, so the xds-server discovers it. */
  jwksUri?: string;
  upstreamPort: number;
  /** Scopes and extra authorization parameters the BFF asks the provider for. */
  scopes: string[];
  authParams: Record<string, string>;
}

/**
 * The app's AppSpec YAML for `sessiongate apps register -f`: test/demo/demo-app.yaml
 * filled in, then the per-app fields (mode, cookie, origins, scopes) set on the
 * parsed document, so they hold whatever placeholders the template has. The one
 * registration configures both Envoy and the BFF (over its BffDirectory stream).
 */
export function registrationYaml(app: DemoAppSpec, v: RegistrationVars): string {
  const text = renderTemplate(readFileSync(join(import.meta.dirname, "demo-app.yaml"), "utf8"), {
    APP_ID: app.id,
    HOST: app.host,
    MODE: app.mode,
    COOKIE_NAME: app.cookieName,
    ORIGIN: app.origin,
    ISSUER: v.issuer,
    CLIENT_ID: app.clientId,
    CLIENT_SECRET: app.clientSecret,
    UPSTREAM_PORT: v.upstreamPort,
    JWT_ISSUER: v.jwtIssuer,
    AUDIENCE: v.audience,
    JWKS_URI: v.jwksUri ?? "",
  });
  const doc = parse(text) as {
    session?: Record<string, unknown>;
    oidc?: Record<string, unknown>;
    jwt?: Record<string, unknown>;
    path_prefix?: string;
    public_paths?: string[];
  };
  if (!v.jwksUri && doc.jwt) delete doc.jwt.remote_jwks_uri;
  doc.path_prefix = app.pathPrefix;
  if (app.publicPaths) doc.public_paths = app.publicPaths;
  else if (app.pathPrefix !== "/") delete doc.public_paths;
  doc.session = { ...doc.session, mode: app.mode, cookie_name: app.cookieName };
  // The registry defaults to https://<host>; the demo is plain http on loopback
  // hosts (localhost, *.localhost), so its origin is said explicitly: it is where
  // the BFF's redirect URIs point and what the filter's CSRF check accepts.
  doc.session.allowed_origins = [app.origin];
  doc.oidc = { ...doc.oidc, public_origin: app.origin, scopes: v.scopes };
  // The app's own API audience: its token is for its API only (RFC 8707 resource).
  const authParams = app.audience ? { ...v.authParams, resource: app.audience } : v.authParams;
  if (Object.keys(authParams).length > 0) doc.oidc.auth_params = authParams;
  if (app.audience && doc.jwt) doc.jwt.audiences = [app.audience];
  if (app.group) (doc as Record<string, unknown>).group = app.group;
  return stringify(doc);
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The apps of `--app` and `--group`. Apps of a group share one host (localhost
 * when there is only that group, else <group>.localhost), each under /<id>
 * with its SPA shell public; `--group` adds the group's shell at /.
 */
export function demoAppsFromArgs(
  args: string[] | undefined,
  shell: string | undefined,
): DemoAppOptions[] | undefined {
  if (shell !== undefined && !NAME.test(shell)) throw new Error(`--group ${shell}: want [a-z0-9-]`);
  const parsed = (args ?? []).map((arg) => {
    const [name, mode = "bff"] = arg.split(":");
    const parts = name.split("/");
    const [group, id] = parts.length === 2 ? parts : [undefined, name];
    if (
      parts.length > 2 ||
      !NAME.test(id) ||
      (group !== undefined && !NAME.test(group)) ||
      (mode !== "bff" && mode !== "tokenExchange")
    )
      throw new Error(`--app ${arg}: want [GROUP/]ID[:bff|tokenExchange], GROUP and ID [a-z0-9-]`);
    return { id, mode: mode as "bff" | "tokenExchange", group };
  });
  if (shell !== undefined) parsed.unshift({ id: shell, mode: "bff", group: shell });
  if (parsed.length === 0) return undefined;
  const groups = new Set(parsed.flatMap((a) => (a.group ? [a.group] : [])));
  const onlyGroup = groups.size === 1 && parsed.every((a) => a.group);
  return parsed.map((a) => {
    if (!a.group) return { id: a.id, mode: a.mode };
    const atRoot = a.id === shell && a.group === shell;
    const prefix = atRoot ? "/" : `/${a.id}`;
    return {
      id: a.id,
      mode: a.mode,
      group: a.group,
      host: onlyGroup ? "localhost" : `${a.group}.localhost`,
      pathPrefix: prefix,
      publicPaths: atRoot
        ? ["/", "/index.html", "/static/*"]
        : [`${prefix}/`, `${prefix}/index.html`, `${prefix}/static/*`],
      // Its own API audience: one app's token is refused by another's API.
      audience: `https://api.sessiongate.test/${a.id}`,
    };
  });
}
