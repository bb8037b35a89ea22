// A second real OpenID Provider, in Go: the OP of github.com/zitadel/oidc (an
// OpenID-certified implementation) with its example storage and login page,
// built by ensure-providers.mjs from test/providers/zitadel-op and started on
// a free loopback port. Its example user: test-user@127.0.0.1 / verysecure.
import { ensureProvider } from "./keycloak.js";
import { freePort } from "./ports.js";
import { type ManagedProcess, startProcess } from "./process.js";

export interface ZitadelOpOptions {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
}

export interface ZitadelOpHandle {
  issuer: string;
  version: string;
  user: { username: string; password: string; sub: string };
  process: ManagedProcess;
  /** Requests to the token endpoint so far (code and refresh grants), from the OP's request log. */
  tokenRequests(): number;
  stop(): Promise<void>;
}

export async function startZitadelOp(o: ZitadelOpOptions): Promise<ZitadelOpHandle> {
  const { bin, version } = await ensureProvider<{ bin: string; version: string }>("zitadel");
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const proc = await startProcess({
    name: "zitadel-op",
    cmd: bin,
    env: {
      PORT: String(port),
      CLIENT_ID: o.clientId,
      CLIENT_SECRET: o.clientSecret,
      REDIRECT_URIS: o.redirectUris.join(","),
      POST_LOGOUT_REDIRECT_URIS: o.postLogoutRedirectUris.join(","),
    },
    ready: { url: `${issuer}/.well-known/openid-configuration` },
    readyTimeoutMs: 30_000,
  });
  return {
    issuer,
    version,
    user: { username: "test-user@127.0.0.1", password: "verysecure", sub: "id1" },
    process: proc,
    tokenRequests: () => (proc.log().match(/"path":"\/oauth\/token"/g) ?? []).length,
    stop: () => proc.stop(),
  };
}
