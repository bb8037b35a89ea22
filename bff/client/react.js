// sessiongate/react: React bindings for the browser client (sessiongate.js).
// ESM, no build step, no dependency but React (>= 18, a peer dependency).
// Types: react.d.ts next to this file.
//
//   import { createSession } from "sessiongate/client";   // or the served /auth/<app>/client.js
//   import { SessionProvider, useSession, useToken, RequireSession } from "sessiongate/react";
//   const sg = createSession();
//   root.render(createElement(SessionProvider, { client: sg }, app));
//
// The session state is an external store read with useSyncExternalStore over
// the client's onChange, so every component of a render sees the same session
// (no tearing under concurrent rendering). An access token (tokenExchange) is
// held where the client holds it, in memory: useToken keeps the current one
// in the calling component's state, never in storage, and drops it when the
// session ends or the component unmounts.
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  useSyncExternalStore,
} from "react";

const SessionContext = createContext(null);

const sameSession = (a, b) =>
  a === b ||
  (a != null &&
    b != null &&
    a.app === b.app &&
    a.sub === b.sub &&
    a.session_expires_at === b.session_expires_at);

const statusOf = (info) =>
  info === undefined ? "loading" : info === null ? "unauthenticated" : "authenticated";

/**
 * The session as React sees it: a snapshot object replaced (never mutated)
 * on every change, so useSyncExternalStore compares it by identity.
 */
function createStore(client) {
  const subscribers = new Set();
  let unsubscribeClient = null;
  let snapshot = { status: statusOf(client.current), session: client.current ?? null, error: null };

  function set(info, error) {
    const status = statusOf(info);
    if (status === snapshot.status && sameSession(info ?? null, snapshot.session) && error === snapshot.error)
      return false;
    snapshot = { status, session: info ?? null, error };
    for (const notify of [...subscribers]) notify();
    return true;
  }

  return {
    getSnapshot: () => snapshot,
    subscribe(notify) {
      subscribers.add(notify);
      if (!unsubscribeClient) unsubscribeClient = client.onChange((info) => set(info, null));
      // A change between the render and this subscription (a session() answer) is not lost.
      set(client.current, snapshot.error);
      return () => {
        subscribers.delete(notify);
        if (subscribers.size === 0 && unsubscribeClient) {
          unsubscribeClient();
          unsubscribeClient = null;
        }
      };
    },
    /** Asks the BFF; true when what it said differs from what was known. */
    async refresh() {
      try {
        const info = await client.session();
        set(info, null);
        return info;
      } catch (err) {
        set(client.current, err);
        throw err;
      }
    },
  };
}

/**
 * Provides one client's session to its subtree. It asks the BFF once on mount
 * and again when the tab becomes visible, every `recheckIntervalS` seconds
 * (a back-channel logout or an expired session shows without a user action),
 * and when another tab of the same app saw the session change.
 */
export function SessionProvider({
  client,
  recheckIntervalS = 60,
  recheckOnFocus = true,
  syncTabs = true,
  children,
}) {
  if (!client || typeof client.onChange !== "function" || typeof client.session !== "function")
    throw new TypeError("SessionProvider: `client` must be a session from createSession()");
  const store = useMemo(() => createStore(client), [client]);

  useEffect(() => {
    let stopped = false;
    const check = () => {
      if (!stopped) store.refresh().catch(() => {}); // kept in the snapshot's `error`
    };
    // Other tabs of this app hear of a change (never a token: only that one happened).
    const channel =
      syncTabs && typeof BroadcastChannel === "function"
        ? new BroadcastChannel(`sessiongate:${client.app}`)
        : null;
    if (channel) channel.onmessage = check;
    const offChange = client.onChange(() => channel?.postMessage("changed"));
    if (client.current === undefined) check();
    const onVisible = () => {
      if (document.visibilityState === "visible") check();
    };
    if (recheckOnFocus) {
      document.addEventListener("visibilitychange", onVisible);
      globalThis.addEventListener?.("focus", check);
    }
    const timer = recheckIntervalS > 0 ? setInterval(check, recheckIntervalS * 1000) : null;
    return () => {
      stopped = true;
      offChange();
      channel?.close();
      if (recheckOnFocus) {
        document.removeEventListener("visibilitychange", onVisible);
        globalThis.removeEventListener?.("focus", check);
      }
      if (timer) clearInterval(timer);
    };
  }, [client, store, recheckIntervalS, recheckOnFocus, syncTabs]);

  const value = useMemo(() => ({ client, store }), [client, store]);
  return createElement(SessionContext.Provider, { value }, children);
}

function useSessionContext(hook) {
  const value = useContext(SessionContext);
  if (!value) throw new Error(`${hook} must be used inside <SessionProvider>`);
  return value;
}

/** The session client of the nearest SessionProvider (for `fetch`, `getToken`, …). */
export function useSessionClient() {
  return useSessionContext("useSessionClient()").client;
}

/**
 * `{status, session, user, error, login, logout, refresh, client}`: status is
 * "loading" before the BFF answered, then "authenticated" or "unauthenticated".
 */
export function useSession() {
  const { client, store } = useSessionContext("useSession()");
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const login = useCallback((returnTo) => client.login(returnTo), [client]);
  const logout = useCallback(() => client.logout(), [client]);
  return useMemo(
    () => ({
      status: snap.status,
      session: snap.session,
      user: snap.session ? snap.session.user : null,
      error: snap.error,
      login,
      logout,
      refresh: store.refresh,
      client,
    }),
    [snap, login, logout, store, client],
  );
}

const RETRY_MS = 5_000;
// Never renew in a tighter loop than this, whatever lifetime the BFF hands out.
const MIN_RENEW_MS = 1_000;

/**
 * tokenExchange mode: `{status, token, error, getToken}` with the session's
 * current access token, renewed before it expires (when the client would
 * renew it) while the component is mounted. status: "loading", "ready",
 * "error" (the last attempt failed; retried), "unauthenticated", or
 * "not_enabled" (a bff-mode app: use the client's fetch, the gateway adds the token).
 */
export function useToken() {
  const { client, store } = useSessionContext("useToken()");
  const snap = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const enabled = client.mode === "tokenExchange";
  const sessionKey = snap.session ? `${snap.session.app}\n${snap.session.sub}` : null;
  const [state, setState] = useState({ token: null, error: null, key: null });

  useEffect(() => {
    if (!enabled || sessionKey === null) return;
    let cancelled = false;
    let timer = null;
    const schedule = (ms) => {
      timer = setTimeout(tick, Math.max(ms, MIN_RENEW_MS));
    };
    async function tick() {
      try {
        const token = await client.getToken();
        if (cancelled) return;
        setState((s) =>
          s.token === token && s.key === sessionKey ? s : { token, error: null, key: sessionKey },
        );
        // The client says when it would renew; an older client without tokenRenewsAt: ask again soon
        // (getToken answers from memory until then).
        const at = client.tokenRenewsAt;
        schedule(typeof at === "number" ? at - Date.now() : RETRY_MS);
      } catch (err) {
        if (cancelled) return;
        setState({ token: null, error: err, key: sessionKey });
        // no_session: the client has reported the end to onChange; the effect ends with it.
        if (err?.code !== "no_session") schedule(RETRY_MS);
      }
    }
    tick();
    return () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    };
  }, [client, enabled, sessionKey]);

  const getToken = useCallback((opts) => client.getToken(opts), [client]);
  // What belongs to an ended (or other user's) session is never shown.
  const current = state.key === sessionKey ? state : { token: null, error: null };
  let status;
  if (!enabled) status = "not_enabled";
  else if (snap.status === "loading") status = "loading";
  else if (sessionKey === null) status = "unauthenticated";
  else if (current.token) status = "ready";
  else status = current.error ? "error" : "loading";
  return {
    status,
    token: sessionKey === null ? null : current.token,
    error: current.error,
    getToken,
  };
}

/**
 * Renders `children` only with a session. While the BFF is asked: `fallback`.
 * Without a session: `redirectToLogin` sends the browser to the login (back to
 * `returnTo`, default the current page) and shows `fallback` meanwhile; else
 * `unauthenticated` (default: `fallback`).
 */
export function RequireSession({
  children,
  fallback = null,
  unauthenticated,
  redirectToLogin = false,
  returnTo,
}) {
  const { status, login } = useSession();
  const redirect = status === "unauthenticated" && redirectToLogin;
  useEffect(() => {
    if (redirect) login(returnTo);
  }, [redirect, login, returnTo]);
  if (status === "authenticated") return children;
  if (status === "unauthenticated" && !redirectToLogin)
    return unauthenticated === undefined ? fallback : unauthenticated;
  return fallback;
}
