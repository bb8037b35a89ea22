// Dex (Go) as an identity provider for the provider tests: built by
// ensure-providers.mjs from the Go module proxy, started on free loopback
// ports with a static password user and a static client, in-memory storage.
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { logPath } from "./cleanup.js";
import { ensureProvider } from "./keycloak.js";
import { freePort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

export interface DexOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** ID and access token lifetime in seconds (Dex's default 24 h). */
  tokenTtlS?: number;
}

export interface DexHandle {
  issuer: string;
  version: string;
  user: { username: string; password: string; sub: string; email: string };
  process: ManagedProcess;
  /** Successful POSTs to the token endpoint so far (code and refresh grants), from Dex's metrics. */
  tokenRequests(): Promise<number>;
  stop(): Promise<void>;
}

// Dex's own example hash (config.dev.yaml) of the password "password".
const USER = {
  email: "dana@example.test",
  username: "dana",
  userID: "08a8684b-db88-4b73-90a9-3cd1661f5466",
  hash: "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W",
  password: "password",
};

export async function startDex(o: DexOptions): Promise<DexHandle> {
  const { bin, version } = await ensureProvider<{ bin: string; version: string }>("dex");
  const [port, telemetry] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${port}/dex`;
  const config = logPath("dex-config").replace(/\.log$/, ".yaml");
  writeFileSync(
    config,
    stringify({
      issuer,
      storage: { type: "memory" },
      web: { http: `127.0.0.1:${port}` },
      telemetry: { http: `127.0.0.1:${telemetry}` },
      logger: { level: "info", format: "json" },
      oauth2: { skipApprovalScreen: true, responseTypes: ["code"] },
      expiry: { idTokens: `${o.tokenTtlS ?? 86400}s` },
      enablePasswordDB: true,
      staticPasswords: [{ email: USER.email, hash: USER.hash, username: USER.username, userID: USER.userID }],
      staticClients: [
        { id: o.clientId, secret: o.clientSecret, name: "sessiongate", redirectURIs: o.redirectUris },
      ],
    }),
    { mode: 0o600 },
  );
  const proc = await startProcess({
    name: "dex",
    cmd: bin,
    args: ["serve", config],
    ready: { url: `${issuer}/.well-known/openid-configuration` },
    readyTimeoutMs: 30_000,
  });
  return {
    issuer,
    version,
    user: { username: USER.email, password: USER.password, sub: USER.userID, email: USER.email },
    process: proc,
    tokenRequests: async () => {
      const text = await (await fetch(`http://127.0.0.1:${telemetry}/metrics`)).text();
      const m = /^http_requests_total\{code="200",handler="\/token",method="post"\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : 0;
    },
    stop: () => proc.stop(),
  };
}
