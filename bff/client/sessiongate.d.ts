// Types for sessiongate.js, the browser client the BFF serves at
// `<prefix>/<app>/client.js`. In a TypeScript SPA, give the served URL a bare
// name in the page's import map and point TypeScript at a copy of this file:
//
//   <script type="importmap">{"imports":{"sessiongate":"/auth/shop/client.js"}}</script>
//   tsconfig.json: "paths": { "sessiongate": ["./types/sessiongate.d.ts"] }
//   import { createSession } from "sessiongate";

export type SessionMode = "bff" | "tokenExchange";

export interface SessionOptions {
  /** App id (default: the app the BFF served this file for). */
  app?: string;
  /** The BFF's public prefix (default: the served one, else "/auth"). */
  prefix?: string;
  /** The app's session mode (default: the served one, else "bff"). */
  mode?: SessionMode;
  /** Origin of the BFF routes (default "": the page's own origin). */
  origin?: string;
  /** Renew an access token this many seconds before it expires, at most half its lifetime (default 30). */
  refreshSkewS?: number;
  /** Other origins `fetch()` may send the access token to (default: none, only the page's origin). */
  tokenOrigins?: string[];
  /**
   * An app of a group: the group's routes (default: the served ones, e.g.
   * "/auth/_group/shop"). When `session()` finds no session but the browser
   * has signed in to the group, the page goes through a silent sign-in
   * (prompt=none) and comes back signed in, without the user doing anything.
   */
  group?: string;
  /** Try that silent sign-in (default true for an app of a group). */
  silentSignIn?: boolean;
  /** The fetch implementation (default: globalThis.fetch). */
  fetch?: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
}

/** What `GET <prefix>/<app>/session` answers for a live session. Never a token. */
export interface SessionInfo {
  authenticated: true;
  app: string;
  mode: SessionMode;
  sub: string;
  /** The ID token's user claims (name, email, …) and `sub`. */
  user: { sub: string; [claim: string]: unknown };
  /** ISO 8601: the absolute end of the session. */
  session_expires_at: string;
}

export interface Session {
  readonly app: string;
  readonly mode: SessionMode;
  /** The last session info seen: undefined before the first `session()` call, null without a session. */
  readonly current: SessionInfo | null | undefined;
  /** Asks the BFF who is logged in; null without a session. */
  session(): Promise<SessionInfo | null>;
  /** Navigates to the BFF's login; it comes back to `returnTo` (default: the current page). */
  login(returnTo?: string): void;
  /** The login URL `login()` navigates to. */
  loginUrl(returnTo?: string): string;
  /** Ends the session with a same-origin form POST (then the provider's logout). */
  logout(): void;
  /** Called when the session starts, ends or changes user; returns an unsubscribe function. */
  onChange(listener: (info: SessionInfo | null) => void): () => void;
  /**
   * tokenExchange mode only: a short-lived access token from `<prefix>/<app>/token`,
   * held in memory, renewed before it expires; concurrent calls share one request.
   */
  getToken(opts?: { forceRefresh?: boolean }): Promise<string>;
  /**
   * fetch for the app's APIs: bff mode sends the session cookie (the gateway swaps it
   * for a token); tokenExchange mode adds `Authorization: Bearer` and sends no cookies.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

export declare class SessionGateError extends Error {
  /** HTTP status of the BFF's answer (0 when no request was made). */
  readonly status: number;
  /** The BFF's `error` code, e.g. "no_session", "csrf_header_required". */
  readonly code: string;
  constructor(message: string, status: number, code: string);
}

export declare function createSession(options?: SessionOptions): Session;
