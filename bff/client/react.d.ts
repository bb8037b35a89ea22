// Types for react.js (`sessiongate/react`): React bindings for the browser client.
import type { ReactNode } from "react";
import type { Session, SessionGateError, SessionInfo } from "./sessiongate.js";

export interface SessionProviderProps {
  /** The client: `createSession()` from `sessiongate/client` or the BFF's served `<prefix>/<app>/client.js`. */
  client: Session;
  /** Ask the BFF again every this many seconds (default 60; 0: never): a back-channel logout shows by itself. */
  recheckIntervalS?: number;
  /** Ask again when the tab becomes visible or gets the focus (default true). */
  recheckOnFocus?: boolean;
  /** Tabs of the same app tell each other the session changed (BroadcastChannel; default true). */
  syncTabs?: boolean;
  children?: ReactNode;
}

export declare function SessionProvider(props: SessionProviderProps): ReactNode;

export type SessionStatus = "loading" | "authenticated" | "unauthenticated";

export interface SessionState {
  /** "loading" until the BFF first answered. */
  status: SessionStatus;
  /** The session info (never a token), null unless authenticated. */
  session: SessionInfo | null;
  /** The user's claims (`session.user`), null unless authenticated. */
  user: SessionInfo["user"] | null;
  /** The last failed check (e.g. the BFF answered 503); cleared by the next answer. */
  error: SessionGateError | Error | null;
  login(returnTo?: string): void;
  logout(): void;
  /** Asks the BFF now. */
  refresh(): Promise<SessionInfo | null>;
  client: Session;
}

export declare function useSession(): SessionState;

/** The client of the nearest SessionProvider (for `fetch`, `getToken`, …). */
export declare function useSessionClient(): Session;

export type TokenStatus = "loading" | "ready" | "error" | "unauthenticated" | "not_enabled";

export interface TokenState {
  /** "not_enabled" for a bff-mode app (the gateway adds the token: use the client's `fetch`). */
  status: TokenStatus;
  /** The current access token (memory only), renewed before it expires; null unless "ready". */
  token: string | null;
  /** The last failed `/token` call (retried), or null. */
  error: SessionGateError | Error | null;
  getToken(opts?: { forceRefresh?: boolean }): Promise<string>;
}

/** tokenExchange mode: the session's access token, renewed before it expires while mounted. */
export declare function useToken(): TokenState;

export interface RequireSessionProps {
  children?: ReactNode;
  /** Shown while the session is checked, and while redirecting to the login (default null). */
  fallback?: ReactNode;
  /** Shown without a session when not redirecting (default: `fallback`). */
  unauthenticated?: ReactNode;
  /** Without a session, go to the login (default false). */
  redirectToLogin?: boolean;
  /** Where the login comes back to (default: the current page). */
  returnTo?: string;
}

/** Renders its children only with a session. */
export declare function RequireSession(props: RequireSessionProps): ReactNode;
