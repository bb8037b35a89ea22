// The demo SPA in React, on sessiongate/react: the session in a SessionProvider,
// the status from useSession(), the API behind <RequireSession>, and in
// tokenExchange mode the access token from useToken() (renewed before it
// expires; only its expiry is shown). Bundled by esbuild (bundle.ts) with
// React's production build; "sessiongate/client" stays an import the page's
// import map points at the BFF's served client.
import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { createSession } from "sessiongate/client";
import { RequireSession, SessionProvider, useSession, useSessionClient, useToken } from "sessiongate/react";

const sg = createSession();

/** The `exp` claim of a JWT access token (an opaque one has none to show). */
function expiryOf(jwt: string | null): number | null {
  const payload = jwt?.split(".")[1];
  if (!payload) return null;
  try {
    const exp = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))).exp;
    return typeof exp === "number" ? exp : null;
  } catch {
    return null;
  }
}

function Status() {
  const { status, user, login, logout } = useSession();
  const text =
    status === "loading"
      ? "Checking your session…"
      : status === "authenticated"
        ? `Logged in as ${String(user?.name ?? user?.sub)} (${user?.sub})`
        : "You are not logged in.";
  return (
    <section>
      <p id="status" data-status={status}>
        {text}
      </p>
      {status === "unauthenticated" && (
        <button id="login" type="button" onClick={() => login()}>
          Log in
        </button>
      )}
      {status === "authenticated" && (
        <button id="logout" type="button" onClick={logout}>
          Log out
        </button>
      )}
    </section>
  );
}

function Api() {
  const client = useSessionClient();
  const { status, token } = useToken();
  // How many tokens this component has been given: each renewal is one more.
  const last = useRef<string | null>(null);
  const [given, setGiven] = useState(0);
  useEffect(() => {
    if (token && token !== last.current) {
      last.current = token;
      setGiven((n) => n + 1);
    }
  }, [token]);
  const [out, setOut] = useState<{ status: number; body: string } | null>(null);
  const call = async () => {
    const res = await client.fetch("/api/whoami");
    setOut({ status: res.status, body: await res.text() });
  };
  const exp = expiryOf(token);
  return (
    <section id="api" data-token-status={status} data-token-exp={exp ?? ""} data-tokens={given}>
      <p className="muted">
        {status === "not_enabled"
          ? "bff mode: the gateway swaps the session cookie for a token."
          : `Access token (in memory only): ${status}${exp ? `, expires ${new Date(exp * 1000).toLocaleTimeString()}` : ""}`}
      </p>
      <button id="whoami" type="button" onClick={call}>
        Call /api/whoami
      </button>
      <pre id="out" data-status={out?.status ?? ""}>
        {out ? `${out.status}\n${out.body}` : ""}
      </pre>
    </section>
  );
}

function App() {
  // ?guard=redirect: the API section sends a visitor without a session to the login.
  const redirect = new URLSearchParams(location.search).get("guard") === "redirect";
  return (
    <>
      <h1>sessiongate React demo</h1>
      <p id="mode" className="muted">
        app {sg.app}, {sg.mode} mode
      </p>
      <Status />
      <RequireSession
        fallback={<p id="guard-wait">Checking…</p>}
        unauthenticated={<p id="guard">Log in to call the API.</p>}
        redirectToLogin={redirect}
      >
        <Api />
      </RequireSession>
    </>
  );
}

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <SessionProvider client={sg} recheckIntervalS={3}>
      <App />
    </SessionProvider>
  </StrictMode>,
);
