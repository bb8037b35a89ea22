// sessiongate browser client: the SPA side of the BFF's public routes.
// ESM, no dependencies, no build step. The BFF serves it at
// `<prefix>/<app>/client.js` with that app's settings filled in below, so
//   import { createSession } from "/auth/shop/client.js";
//   const sg = createSession();
// needs no options. Types: sessiongate.d.ts next to this file.
//
// What it never does: keep a token anywhere but in this module's memory (no
// localStorage, sessionStorage, cookies or IndexedDB), or attach a token to a
// URL outside the page's own origin unless told to (`tokenOrigins`).

/** Settings of the app this copy was served for; the BFF fills the object in. */
const SERVED = /* sessiongate:config */ {};

const APP_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A refused or failed call to the BFF; `code` is the BFF's `error` field. */
export class SessionGateError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = "SessionGateError";
    this.status = status;
    this.code = code;
  }
}

async function errorOf(res, what) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  const code = body && typeof body.error === "string" ? body.error : `http_${res.status}`;
  const detail = body && typeof body.error_description === "string" ? `: ${body.error_description}` : "";
  return new SessionGateError(`${what} failed (${res.status} ${code}${detail})`, res.status, code);
}

export function createSession(options = {}) {
  const app = options.app ?? SERVED.app;
  const mode = options.mode ?? SERVED.mode ?? "bff";
  const prefix = String(options.prefix ?? SERVED.prefix ?? "/auth").replace(/\/+$/, "");
  if (typeof app !== "string" || !APP_ID.test(app))
    throw new TypeError("createSession: `app` (the app id) is required");
  if (mode !== "bff" && mode !== "tokenExchange") throw new TypeError(`createSession: unknown mode ${mode}`);
  // "" = the page's own origin (the usual case: SPA and BFF behind one gateway).
  const origin = options.origin ?? "";
  const base = `${origin}${prefix}/${app}`;
  const send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const skewMs = (options.refreshSkewS ?? 30) * 1000;
  const here = () => origin || globalThis.location?.origin;
  const tokenOrigins = new Set(options.tokenOrigins ?? []);
  // An app of a group: where the group's routes are (bff/http/group.ts).
  const group = options.group ?? SERVED.group;
  if (group !== undefined && !/^(\/[A-Za-z0-9._~-]+)+$/.test(group))
    throw new TypeError(`createSession: bad group path ${group}`);
  const silentSignIn = group !== undefined && options.silentSignIn !== false;

  const listeners = new Set();
  let known; // undefined: not asked yet; null: no session; else the session info
  let token = null; // { value, refreshAt }
  let inflight = null; // the /token call in progress, shared by concurrent callers
  let generation = 0; // bumped by forget(): a late /token answer must not revive a token

  function publish(info) {
    const key = (v) => (v === undefined ? undefined : v === null ? null : `${v.app}\n${v.sub}`);
    const changed = key(known) !== key(info);
    known = info;
    if (!changed) return;
    for (const listener of [...listeners]) {
      try {
        listener(info);
      } catch (err) {
        // One broken listener must not stop the others; still surface it.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  function forget() {
    generation += 1;
    token = null;
  }

  /** `GET <prefix>/<app>/session`: the session info, or null without a session. */
  async function session() {
    const res = await send(`${base}/session`, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { accept: "application/json" },
    });
    if (res.status === 401) {
      forget();
      // Leaving for a silent sign-in: the page comes back with a session (or without, and then stays).
      if (silentSignIn && (await trySilentSignIn())) return null;
      publish(null);
      return null;
    }
    if (!res.ok) throw await errorOf(res, "session");
    const info = await res.json();
    publish(info);
    return info;
  }

  /**
   * No session here, but maybe one in the group: the BFF advises a silent
   * sign-in (prompt=none) only when the browser has signed in to the group, the
   * provider has not refused one and this app has no session there yet, so a
   * failed attempt is never repeated (no loops). Navigates and returns true, or
   * returns false.
   */
  async function trySilentSignIn() {
    const loc = globalThis.location;
    if (!loc) return false;
    let advice = null;
    try {
      const res = await send(`${origin}${group}/session?app=${encodeURIComponent(app)}`, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { accept: "application/json" },
      });
      if (res.ok) advice = await res.json();
    } catch {
      return false;
    }
    if (advice?.silent_sign_in !== true) return false;
    const here = loc.pathname + loc.search + loc.hash;
    loc.assign(
      `${origin}${group}/login?app=${encodeURIComponent(app)}&prompt=none&return_to=${encodeURIComponent(here)}`,
    );
    return true;
  }

  function loginUrl(returnTo) {
    const loc = globalThis.location;
    const target = returnTo ?? (loc ? loc.pathname + loc.search + loc.hash : "/");
    return `${base}/login?return_to=${encodeURIComponent(target)}`;
  }

  /** Navigates to the BFF's login; the BFF sends the browser back to `returnTo` (default: here). */
  function login(returnTo) {
    globalThis.location.assign(loginUrl(returnTo));
  }

  /**
   * Ends the session: a same-origin form POST (the BFF checks Origin /
   * Sec-Fetch-Site), which goes on to the provider's logout and back.
   */
  function logout() {
    forget();
    publish(null);
    const form = document.createElement("form");
    form.method = "POST";
    form.action = `${base}/logout`;
    form.style.display = "none";
    document.body.appendChild(form);
    form.submit();
  }

  /** Calls `listener(info | null)` whenever the session starts, ends or changes user. */
  function onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  async function fetchToken() {
    const gen = generation;
    const started = Date.now();
    const res = await send(`${base}/token`, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      // A header a cross-site form or <img> cannot send: the BFF requires it.
      headers: { accept: "application/json", "x-sessiongate-csrf": "1" },
    });
    if (res.status === 401) {
      forget();
      publish(null);
      throw new SessionGateError("no session: log in first", 401, "no_session");
    }
    if (!res.ok) throw await errorOf(res, "token");
    const body = await res.json();
    if (typeof body.access_token !== "string" || !(body.expires_in >= 0))
      throw new SessionGateError("token: malformed answer", res.status, "invalid_response");
    // Counted from before the request: the token is never believed fresher than it is.
    const lifetimeMs = body.expires_in * 1000;
    const fresh = {
      value: body.access_token,
      refreshAt: started + lifetimeMs - Math.min(skewMs, lifetimeMs / 2),
    };
    if (gen === generation) token = fresh;
    return fresh.value;
  }

  /**
   * tokenExchange mode: a short-lived access token, kept in memory, renewed
   * when less than the skew (at most half its lifetime) is left; concurrent
   * callers share one request.
   */
  function getToken({ forceRefresh = false } = {}) {
    if (mode !== "tokenExchange")
      return Promise.reject(
        new SessionGateError(`getToken(): app ${app} is not in tokenExchange mode`, 0, "not_enabled"),
      );
    if (!forceRefresh && !inflight && token && Date.now() < token.refreshAt)
      return Promise.resolve(token.value);
    if (!inflight) {
      inflight = fetchToken().finally(() => {
        inflight = null;
      });
    }
    return inflight;
  }

  function mayCarryToken(input) {
    const raw = typeof input === "string" || input instanceof URL ? String(input) : input.url;
    const target = new URL(raw, here() ?? base).origin;
    return target === new URL(here() ?? base).origin || tokenOrigins.has(target);
  }

  /**
   * `fetch` for the app's APIs. bff mode: the session cookie goes along and
   * the gateway swaps it for a token. tokenExchange mode: `Authorization:
   * Bearer` and no cookies; one retry with a new token after a 401.
   */
  async function apiFetch(input, init = {}) {
    if (mode !== "tokenExchange") return send(input, { credentials: "same-origin", ...init });
    if (!mayCarryToken(input))
      throw new TypeError(
        `sessiongate fetch: will not send a token to ${String(input)} (not in tokenOrigins)`,
      );
    const attempt = async (forceRefresh) => {
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set("authorization", `Bearer ${await getToken({ forceRefresh })}`);
      return send(input, { credentials: "omit", ...init, headers });
    };
    const res = await attempt(false);
    const replayable = !(input instanceof Request) && !(init.body instanceof ReadableStream);
    return res.status === 401 && replayable ? attempt(true) : res;
  }

  return {
    app,
    mode,
    session,
    login,
    loginUrl,
    logout,
    onChange,
    getToken,
    fetch: apiFetch,
    /** The last session info seen: undefined before the first session() call. */
    get current() {
      return known;
    },
  };
}
