// One openid-client Configuration per app, discovered lazily and re-tried after a
// failure (so an OP that was down at start-up does not need a BFF restart).
import * as oidc from "openid-client";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import type { Logger } from "../log.js";
import { startChildSpan } from "../trace.js";

/** The provider could not be reached (discovery, or a token call that failed for the network's sake). */
export function idpUnreachable(cause: unknown): SessiongateError {
  return new SessiongateError(
    "idp_unavailable",
    `identity provider unreachable: ${(cause as Error)?.message ?? String(cause)}`,
  );
}

/** The OP answered with an OAuth error (e.g. invalid_grant): the grant is dead, not the OP. */
export function isGrantError(err: unknown): boolean {
  return (
    err instanceof oidc.ResponseBodyError &&
    (err.error === "invalid_grant" || err.status === 400 || err.status === 401)
  );
}

/** Network failure, timeout or 5xx from the OP. */
export function isOpUnavailable(err: unknown): boolean {
  if (err instanceof SessiongateError) return err.code === "idp_unavailable";
  if (err instanceof oidc.ResponseBodyError) return err.status >= 500;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code;
  return (
    err.name === "TimeoutError" ||
    err.name === "AbortError" ||
    (err instanceof TypeError && /fetch failed/i.test(err.message)) ||
    code === "OAUTH_RESPONSE_IS_NOT_CONFORM" ||
    code === "OAUTH_RESPONSE_IS_NOT_JSON"
  );
}

export class OidcClients {
  /**
   * Keyed by app id and tied to the AppConfig object it was discovered for:
   * a registry update (new secret, issuer, ...) is a new object, so the next
   * code exchange or refresh builds a fresh client with the new values.
   */
  private readonly configs = new Map<string, { app: AppConfig; p: Promise<oidc.Configuration> }>();

  constructor(private readonly opts: { timeoutMs: number; allowInsecure: boolean; log?: Logger }) {}

  /**
   * Every request to the OP: inside a browser request that carried a W3C
   * `traceparent`, it goes out with a child one and is logged as that span
   * (`trace_id`, `span_id`, `parent_span_id`, like the request's own lines).
   */
  private readonly tracedFetch: oidc.CustomFetch = async (url, options) => {
    const span = startChildSpan();
    if (!span) return fetch(url, options);
    const started = performance.now();
    const { traceparent, ...ids } = span;
    const line = { ...ids, method: options.method, url: url.split("?")[0] };
    try {
      const res = await fetch(url, { ...options, headers: { ...options.headers, traceparent } });
      this.opts.log?.debug(
        { ...line, code: res.status, ms: Math.round(performance.now() - started) },
        "op request",
      );
      return res;
    } catch (err) {
      this.opts.log?.debug({ ...line, err: (err as Error).message }, "op request");
      throw err;
    }
  };

  get(app: AppConfig): Promise<oidc.Configuration> {
    const e = this.configs.get(app.id);
    if (e && e.app === app) return e.p;
    const p = this.discover(app);
    this.configs.set(app.id, { app, p });
    // Forget a failed discovery so the next request tries again.
    p.catch(() => {
      if (this.configs.get(app.id)?.p === p) this.configs.delete(app.id);
    });
    return p;
  }

  /** Drops the client of an app no longer served. */
  forget(id: string): void {
    this.configs.delete(id);
  }

  private async discover(app: AppConfig): Promise<oidc.Configuration> {
    try {
      return await oidc.discovery(
        new URL(app.issuer),
        app.clientId,
        { redirect_uris: [app.redirectUri], response_types: ["code"] },
        app.clientSecret ? oidc.ClientSecretBasic(app.clientSecret) : oidc.None(),
        {
          timeout: Math.max(1, Math.ceil(this.opts.timeoutMs / 1000)),
          execute: this.opts.allowInsecure ? [oidc.allowInsecureRequests] : [],
          // Kept by the Configuration for its later token, refresh and revocation calls.
          [oidc.customFetch]: this.tracedFetch,
        },
      );
    } catch (err) {
      throw idpUnreachable(err);
    }
  }
}
