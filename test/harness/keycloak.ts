// A real Keycloak on loopback for the provider tests: installed (once, cached)
// by ensure-providers.mjs from Maven Central, started in dev mode with an
// in-memory database on free ports, and set up over its admin REST API.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

const ENSURE = join(import.meta.dirname, "ensure-providers.mjs");

/** Runs ensure-providers.mjs for one provider; its progress goes to stderr, its answer is JSON. */
export function ensureProvider<T>(name: "keycloak" | "zitadel" | "dex"): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ENSURE, name], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) {
        reject(new Error(`node ${ENSURE} ${name} failed (exit ${code}): see its output above`));
        return;
      }
      resolve((JSON.parse(out.trim().split("\n").at(-1) ?? "{}") as Record<string, T>)[name]);
    });
  });
}

export interface KeycloakHandle {
  /** http://127.0.0.1:<port> */
  url: string;
  version: string;
  process: ManagedProcess;
  admin: KeycloakAdmin;
  /** Keycloak's log so far (events of the jboss-logging listener included). */
  log(): string;
  stop(): Promise<void>;
}

const ADMIN = { username: "admin", password: "admin-password-for-tests" };

export async function startKeycloak(opts: { readyTimeoutMs?: number } = {}): Promise<KeycloakHandle> {
  const kc = await ensureProvider<{ home: string; javaHome: string; version: string }>("keycloak");
  const [port, mgmt] = [await freePort(), await freePort()];
  const proc = await startProcess({
    name: "keycloak",
    cmd: join(kc.home, "bin/kc.sh"),
    args: [
      "start-dev",
      "--http-host=127.0.0.1",
      `--http-port=${port}`,
      `--http-management-port=${mgmt}`,
      "--health-enabled=true",
      // A fresh database each start: no realm left over from an earlier run.
      "--db=dev-mem",
    ],
    env: {
      JAVA_HOME: kc.javaHome,
      KC_BOOTSTRAP_ADMIN_USERNAME: ADMIN.username,
      KC_BOOTSTRAP_ADMIN_PASSWORD: ADMIN.password,
    },
    ready: { url: `http://127.0.0.1:${mgmt}/health/ready` },
    // Dev mode on 2 busy cores: ~40 s, several minutes when it first builds itself.
    readyTimeoutMs: opts.readyTimeoutMs ?? 420_000,
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    version: kc.version,
    process: proc,
    admin: new KeycloakAdmin(url),
    log: () => proc.log(),
    stop: () => proc.stop(),
  };
}

export interface RealmSetup {
  realm: string;
  clients: {
    clientId: string;
    secret: string;
    redirectUris: string[];
    postLogoutRedirectUris: string[];
    backchannelLogoutUrl: string;
    /** Added to the access tokens' aud (jwt_authn checks it). */
    audience: string;
  }[];
  user: { username: string; password: string; email: string; firstName: string; lastName: string };
  /** Access token lifespan in seconds (Keycloak's default 300). */
  accessTokenLifespanS?: number;
}

export interface Realm {
  issuer: string;
  userId: string;
  /** clientId -> Keycloak's internal id (the admin API's `{client-uuid}`). */
  clientUuids: Record<string, string>;
}

export interface KcSession {
  id: string;
  userId: string;
  clients: Record<string, string>;
}

/** Keycloak's admin REST API (admin-cli password grant in the master realm). */
export class KeycloakAdmin {
  private token?: { value: string; until: number };

  constructor(readonly url: string) {}

  private async accessToken(): Promise<string> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    const res = await fetch(`${this.url}/realms/master/protocol/openid-connect/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", ...ADMIN }),
    });
    const body = (await res.json()) as { access_token?: string; expires_in?: number };
    if (!res.ok || !body.access_token)
      throw new Error(`Keycloak admin login: ${res.status} ${JSON.stringify(body)}`);
    this.token = { value: body.access_token, until: Date.now() + ((body.expires_in ?? 60) - 10) * 1000 };
    return body.access_token;
  }

  /** An admin API call; throws on a non-2xx answer. Returns the JSON body, or the Location header. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/admin/realms${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await this.accessToken()}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`Keycloak admin ${method} ${path}: ${res.status} ${text.slice(0, 500)}`);
    if (text) return JSON.parse(text) as T;
    return (res.headers.get("location") ?? "") as T;
  }

  async setup(s: RealmSetup): Promise<Realm> {
    await this.call("POST", "", {
      realm: s.realm,
      enabled: true,
      accessTokenLifespan: s.accessTokenLifespanS ?? 300,
      // Rotation with reuse detection: a refresh token works once.
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      // Stored events, so tests can count refresh grants and logouts.
      eventsEnabled: true,
      eventsListeners: ["jboss-logging"],
      enabledEventTypes: [
        "REFRESH_TOKEN",
        "REFRESH_TOKEN_ERROR",
        "LOGOUT",
        "LOGOUT_ERROR",
        "LOGIN",
        "CODE_TO_TOKEN",
      ],
    });
    const clientUuids: Record<string, string> = {};
    for (const c of s.clients) {
      const loc = await this.call<string>("POST", `/${s.realm}/clients`, {
        clientId: c.clientId,
        enabled: true,
        protocol: "openid-connect",
        publicClient: false,
        clientAuthenticatorType: "client-secret",
        secret: c.secret,
        standardFlowEnabled: true,
        directAccessGrantsEnabled: false,
        redirectUris: c.redirectUris,
        // Keycloak ignores the back-channel URL while front-channel logout is on,
        // and the admin console turns it on for new clients.
        frontchannelLogout: false,
        attributes: {
          "post.logout.redirect.uris": c.postLogoutRedirectUris.join("##"),
          "backchannel.logout.url": c.backchannelLogoutUrl,
          "backchannel.logout.session.required": "true",
          "backchannel.logout.revoke.offline.tokens": "false",
          "pkce.code.challenge.method": "S256",
        },
        protocolMappers: [
          {
            name: "api-audience",
            protocol: "openid-connect",
            protocolMapper: "oidc-audience-mapper",
            config: {
              "included.custom.audience": c.audience,
              "access.token.claim": "true",
              "id.token.claim": "false",
            },
          },
        ],
      });
      clientUuids[c.clientId] = loc.split("/").at(-1) ?? "";
    }
    const userLoc = await this.call<string>("POST", `/${s.realm}/users`, {
      username: s.user.username,
      email: s.user.email,
      firstName: s.user.firstName,
      lastName: s.user.lastName,
      emailVerified: true,
      enabled: true,
      credentials: [{ type: "password", value: s.user.password, temporary: false }],
    });
    return { issuer: `${this.url}/realms/${s.realm}`, userId: userLoc.split("/").at(-1) ?? "", clientUuids };
  }

  userSessions(realm: string, userId: string): Promise<KcSession[]> {
    return this.call("GET", `/${realm}/users/${userId}/sessions`);
  }

  offlineSessions(realm: string, userId: string, clientUuid: string): Promise<KcSession[]> {
    return this.call("GET", `/${realm}/users/${userId}/offline-sessions/${clientUuid}`);
  }

  /** The admin console's "Sign out" of a user: ends every session of the user. */
  logoutUser(realm: string, userId: string): Promise<unknown> {
    return this.call("POST", `/${realm}/users/${userId}/logout`);
  }

  deleteSession(realm: string, sessionId: string): Promise<unknown> {
    return this.call("DELETE", `/${realm}/sessions/${sessionId}`);
  }

  /** Stored events of a type, newest first. */
  events(realm: string, type: string): Promise<{ type: string; time: number; error?: string }[]> {
    return this.call("GET", `/${realm}/events?type=${type}&max=1000`);
  }
}
