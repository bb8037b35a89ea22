// The demo BFF's configuration, in one place: the apps come from the demo's
// own list here (not yet from the registration API).
import { randomBytes } from "node:crypto";
import { type BffConfig, validateConfig } from "../../bff/index.js";
import type { DemoAppSpec } from "./apps.js";
import type { ExternalIdp } from "./idp.js";

export interface DemoBffInputs {
  apps: DemoAppSpec[];
  issuer: string;
  idp: ExternalIdp | null;
  prefix: string;
  publicPort: number;
  internalPort: number;
  internalKey: string;
  redisUrl: string;
}

export function demoBffConfig(i: DemoBffInputs): BffConfig {
  return validateConfig({
    log_level: process.env.DEMO_LOG_LEVEL ?? "warn",
    allow_insecure_issuer: i.issuer.startsWith("http:"),
    public: { listen: `127.0.0.1:${i.publicPort}`, prefix: i.prefix },
    internal: { listen: `127.0.0.1:${i.internalPort}`, key: i.internalKey },
    redis: { url: i.redisUrl },
    keys: { keys: { k1: randomBytes(32).toString("base64") } },
    apps: i.apps.map((app) => ({
      id: app.id,
      mode: app.mode,
      issuer: i.issuer,
      client_id: app.clientId,
      client_secret: app.clientSecret,
      redirect_uri: `${app.authBase}/callback`,
      cookie: app.cookieName,
      // post_logout_redirect_uri: the default <prefix>/<app>/logout/callback,
      // which lands on the SPA (public_paths: it loads without a session).
      scopes: i.idp?.scopes ?? ["openid", "profile", "email", "offline_access"],
      auth_params: i.idp?.authParams ?? {},
    })),
  });
}
