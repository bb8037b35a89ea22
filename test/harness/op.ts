// A real OpenID Provider (oidc-provider) on loopback, in-process so tests can
// count what happened at the OP (refreshes, revocations, back-channel logouts).
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { type ClientMetadata } from "oidc-provider";
import { onCleanup } from "./cleanup.js";
import { freePort } from "./ports.js";

export interface OpUser {
  username: string;
  password: string;
  sub?: string;
  email?: string;
  name?: string;
}

export interface OpOptions {
  clients: ClientMetadata[];
  users?: OpUser[];
  /** Access token lifetime in seconds (default 300). */
  ttl?: number;
  /** Audience (resource indicator) of the JWT access tokens. */
  audience?: string;
  port?: number;
  /** Rotate refresh tokens on use (default true): a reused one kills the grant. */
  rotateRefreshToken?: boolean;
  /**
   * More resource indicators (RFC 8707) besides `audience`: an access token
   * asked for one of them (`resource` authorization parameter) has it as its
   * audience, so each app of a group can get a token only its own API takes.
   */
  resources?: string[];
  /**
   * First-party clients: grants cover what is asked without a consent step,
   * so a silent authorization request (prompt=none) for another scope or
   * resource of the same user succeeds (default false: consent is an interaction).
   */
  skipConsent?: boolean;
  /**
   * Signing keys made at start (default 1): the first signs and is published;
   * `rotateSigningKey()` moves to the next one (key rotation in chaos runs).
   */
  signingKeys?: number;
}

export interface OpCounts {
  /** Credentials accepted on the login form: how often a user had to sign in. */
  login_form: number;
  authorization_code: number;
  /** Authorization requests answered login_required (a silent one without a provider session). */
  login_required: number;
  refresh_token: number;
  revocation: number;
  grant_revoked: number;
  backchannel_logout: number;
  end_session: number;
  /** Token-endpoint calls answered by `tokenFault` (a status set) instead of by the OP. */
  token_faulted: number;
}

export interface OpHandle {
  issuer: string;
  port: number;
  audience: string;
  jwksUri: string;
  /** The signing key's public JWK (kid, alg RS256). */
  publicJwk: JWK;
  /** The same signing key, private: tests sign tokens the OP would (e.g. logout tokens with chosen claims). */
  signingJwk: JWK;
  counts: OpCounts;
  provider: Provider;
  users: OpUser[];
  /**
   * A fault on the token endpoint (POST /token) for chaos runs, null for none:
   * each call waits `delayMs`, then is answered with `status` and `body`
   * instead of by the OP when `status` is set. Settable at any time.
   */
  tokenFault: TokenFault | null;
  /**
   * Key rotation: the next of the keys made at start (`signingKeys`) is
   * published in the JWKS and signs every access token from now on; the old
   * one stays published (its tokens still verify) until `retireKey`. Returns
   * the new kid; throws when no key is left.
   */
  rotateSigningKey(): string;
  /** Removes a key from the published JWKS (the end of its grace period). */
  retireKey(kid: string): void;
  /** The kid signing access tokens now, and the kids the JWKS publishes. */
  readonly signingKid: string;
  readonly publishedKids: string[];
  /** Every public key made at start, published or not (an independent verifier's view of "genuine"). */
  readonly allPublicJwks: JWK[];
  /** JWKS outage switch: while true, GET /jwks answers 503 (the rest of the OP keeps working). */
  jwksDown: boolean;
  /** Stops answering (sockets closed) without forgetting state; `start()` resumes on the same port. */
  pause(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface TokenFault {
  delayMs?: number;
  status?: number;
  contentType?: string;
  body?: string;
}

export const DEFAULT_USERS: OpUser[] = [
  {
    username: "alice",
    password: "wonderland",
    sub: "alice",
    email: "alice@example.test",
    name: "Alice Liddell",
  },
  { username: "bob", password: "builder", sub: "bob", email: "bob@example.test", name: "Bob Builder" },
];

export async function startOP(opts: OpOptions): Promise<OpHandle> {
  const port = opts.port ?? (await freePort());
  const issuer = `http://127.0.0.1:${port}`;
  const audience = opts.audience ?? "https://api.sessiongate.test";
  const ttl = opts.ttl ?? 300;
  const users = opts.users ?? DEFAULT_USERS;
  const keys: { privateJwk: JWK & { kid: string }; publicJwk: JWK & { kid: string } }[] = [];
  for (let i = 0; i < Math.max(1, opts.signingKeys ?? 1); i++) {
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const privateJwk = {
      ...(await exportJWK(privateKey)),
      kid: `op-${randomBytes(4).toString("hex")}`,
      alg: "RS256",
      use: "sig",
    };
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
    keys.push({ privateJwk, publicJwk });
  }
  const { privateJwk, publicJwk } = keys[0];
  // Key rotation state: which key signs access tokens, which the JWKS lists.
  const rotation = { signing: 0, published: new Set([keys[0].publicJwk.kid]), jwksDown: false };
  const bySub = new Map(users.map((u) => [u.sub ?? u.username, u]));

  const provider = new Provider(issuer, {
    clients: opts.clients.map((c) => ({
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
      ...c,
    })),
    // Every key is in the provider's keystore; access tokens name theirs (jwt.sign.kid below).
    jwks: { keys: keys.map((k) => k.privateJwk as never) },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    conformIdTokenClaims: false,
    claims: { openid: ["sub"], email: ["email"], profile: ["name"] },
    rotateRefreshToken: opts.rotateRefreshToken ?? true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    ttl: {
      AccessToken: ttl,
      IdToken: 3600,
      RefreshToken: 86_400,
      Session: 86_400,
      Grant: 86_400,
      Interaction: 600,
      AuthorizationCode: 60,
    },
    findAccount: async (_ctx, sub) => {
      const u = bySub.get(sub);
      if (!u) return undefined;
      return { accountId: sub, claims: async () => ({ sub, email: u.email, name: u.name }) };
    },
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== "AccessToken" || !token.accountId) return undefined;
      const u = bySub.get(token.accountId);
      return u ? { email: u.email, name: u.name } : undefined;
    },
    // oidc-provider refuses outgoing requests to special-use addresses (SSRF
    // guard via a fetch dispatcher); on this loopback-only harness the
    // back-channel logout targets are on 127.0.0.1, so drop it for loopback only.
    fetch: (input: string | URL | Request, init?: RequestInit & { dispatcher?: unknown }) => {
      const host = new URL(input instanceof Request ? input.url : input).hostname;
      if (init && (host === "127.0.0.1" || host === "localhost" || host === "[::1]")) delete init.dispatcher;
      return globalThis.fetch(input, init);
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ...(opts.skipConsent ? { loadExistingGrant: grantAsked } : {}),
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = `<!DOCTYPE html><html><head><title>Sign out</title></head><body>
${form}<p>Signing you out of the demo identity provider…</p>
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<script>document.forms[0].appendChild(Object.assign(document.createElement('input'),{type:'hidden',name:'logout',value:'yes'}));document.forms[0].submit()</script>
</body></html>`;
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => ({
          scope: "api:read api:write",
          audience: opts.resources?.includes(indicator) ? indicator : audience,
          accessTokenFormat: "jwt",
          accessTokenTTL: ttl,
          jwt: { sign: { alg: "RS256", kid: keys[rotation.signing].privateJwk.kid } },
        }),
      },
    },
  });
  const counts: OpCounts = {
    login_form: 0,
    authorization_code: 0,
    login_required: 0,
    refresh_token: 0,
    revocation: 0,
    grant_revoked: 0,
    backchannel_logout: 0,
    end_session: 0,
    token_faulted: 0,
  };
  provider.on("grant.success", (ctx) => {
    const gt = (ctx.oidc.params as { grant_type?: string } | undefined)?.grant_type;
    if (gt === "authorization_code" || gt === "refresh_token") counts[gt] += 1;
  });
  provider.on("authorization.error", (_ctx, err) => {
    if ((err as { error?: string }).error === "login_required") counts.login_required += 1;
  });
  provider.on("grant.revoked", () => {
    counts.grant_revoked += 1;
  });
  provider.on("backchannel.success", () => {
    counts.backchannel_logout += 1;
  });
  provider.on("end_session.success", () => {
    counts.end_session += 1;
  });

  const opCallback = provider.callback();
  const faults: { token: TokenFault | null } = { token: null };
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const url = new URL(req.url ?? "/", issuer);
      if (url.pathname === "/jwks" && (rotation.jwksDown || keys.length > 1)) {
        // Answered here (not by the provider) so the published set and an outage can be chosen.
        req.resume();
        if (rotation.jwksDown) {
          res.writeHead(503, { "content-type": "text/plain" });
          return res.end("jwks unavailable");
        }
        res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "no-store" });
        return res.end(
          JSON.stringify({
            keys: keys.filter((k) => rotation.published.has(k.publicJwk.kid)).map((k) => k.publicJwk),
          }),
        );
      }
      const fault = url.pathname === "/token" && req.method === "POST" ? faults.token : null;
      if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault?.status) {
        counts.token_faulted += 1;
        req.resume();
        res.writeHead(fault.status, { "content-type": fault.contentType ?? "application/json" });
        return res.end(fault.body ?? "");
      }
      if (url.pathname.startsWith("/interaction/"))
        return await interaction(
          provider,
          users,
          () => {
            counts.login_form += 1;
          },
          req,
          res,
          url,
        );
      if (url.pathname === "/token/revocation" && req.method === "POST") {
        res.once("finish", () => {
          if (res.statusCode === 200) counts.revocation += 1;
        });
      }
      return opCallback(req, res);
    } catch (err) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`op harness error: ${(err as Error).message}`);
    }
  };

  let server = createServer(handler);
  const listen = () => new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  await listen();
  const unregister = onCleanup(close);
  return {
    issuer,
    port,
    audience,
    jwksUri: `${issuer}/jwks`,
    publicJwk: publicJwk as JWK,
    signingJwk: privateJwk as JWK,
    counts,
    provider,
    users,
    get tokenFault() {
      return faults.token;
    },
    set tokenFault(f: TokenFault | null) {
      faults.token = f;
    },
    rotateSigningKey: () => {
      if (rotation.signing + 1 >= keys.length)
        throw new Error(`no signing key left to rotate to (startOP signingKeys: ${keys.length})`);
      rotation.signing += 1;
      const kid = keys[rotation.signing].publicJwk.kid;
      rotation.published.add(kid);
      return kid;
    },
    retireKey: (kid: string) => {
      if (kid === keys[rotation.signing].publicJwk.kid)
        throw new Error("retireKey: that key signs tokens now");
      rotation.published.delete(kid);
    },
    get signingKid() {
      return keys[rotation.signing].publicJwk.kid;
    },
    get publishedKids() {
      return keys.filter((k) => rotation.published.has(k.publicJwk.kid)).map((k) => k.publicJwk.kid);
    },
    allPublicJwks: keys.map((k) => k.publicJwk),
    get jwksDown() {
      return rotation.jwksDown;
    },
    set jwksDown(v: boolean) {
      rotation.jwksDown = v;
    },
    pause: close,
    start: async () => {
      server = createServer(handler);
      await listen();
    },
    stop: async () => {
      unregister();
      await close();
    },
  };
}

/**
 * loadExistingGrant for first-party clients: the signed-in user's grant for
 * the client, extended with what this request asks (scopes, claims, the
 * resource's scopes), so no consent interaction is needed.
 */
// biome-ignore lint/suspicious/noExplicitAny: oidc-provider's KoaContextWithOIDC, whose types this harness does not import
async function grantAsked(ctx: any): Promise<any> {
  const { oidc } = ctx;
  const accountId = oidc.session?.accountId;
  if (!accountId) return undefined;
  const clientId = oidc.client.clientId;
  const id = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(clientId);
  const grant =
    (id && (await oidc.provider.Grant.find(id))) || new oidc.provider.Grant({ accountId, clientId });
  const scope = String(oidc.params.scope ?? "openid");
  grant.addOIDCScope(scope);
  const resources = [oidc.params.resource ?? []].flat() as string[];
  for (const r of resources) grant.addResourceScope(r, "api:read api:write");
  await grant.save();
  return grant;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, clientId: string, error?: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Sign in</title>
<style>body{font-family:system-ui,sans-serif;max-width:22rem;margin:4rem auto}input,button{display:block;width:100%;margin:.4rem 0;padding:.5rem}</style></head>
<body><h1>Demo identity provider</h1><p>Sign in to continue to <b>${escapeHtml(clientId)}</b>.</p>
${error ? `<p role="alert" style="color:#b00">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;
}

async function interaction(
  provider: Provider,
  users: OpUser[],
  onLogin: () => void,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params, session } = details;
  if (req.method === "POST" && url.pathname.endsWith("/login")) {
    const form = await readForm(req);
    const user = users.find(
      (u) => u.username === form.get("username") && u.password === form.get("password"),
    );
    if (!user) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(loginPage(uid, String(params.client_id), "Wrong username or password."));
      return;
    }
    onLogin();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.sub ?? user.username } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (prompt.name === "login") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(loginPage(uid, String(params.client_id)));
    return;
  }
  // First-party demo OP: consent is granted without a screen.
  const accountId = session?.accountId;
  if (!accountId) throw new Error("consent prompt without a session");
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: String(params.client_id) });
  if (!grant) throw new Error("grant not found");
  const missing = prompt.details as {
    missingOIDCScope?: string[];
    missingOIDCClaims?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
