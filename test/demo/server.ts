// The demo SPA + API upstream: one small node:http server behind the gateway.
// `/` is a vanilla-JS page driven by the BFF's `/auth/<app>/session`;
// `/api/whoami` answers with what the upstream received (claim headers and the
// validated token's claims, never the token itself, so the page never holds
// one: invariant 1). Every request is recorded for the browser test.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

export interface DemoRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface DemoServer {
  port: number;
  url: string;
  requests: DemoRequest[];
  stop(): Promise<void>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(appId: string, bffPrefix: string): string {
  const auth = `${bffPrefix}/${appId}`;
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>sessiongate demo</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
button{padding:.5rem 1rem;margin-right:.5rem}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style></head>
<body><h1>sessiongate demo</h1>
<p id="status">Checking your session…</p>
<div id="anon" hidden><button id="login">Log in</button></div>
<div id="user" hidden><button id="whoami">Call /api/whoami</button>
<form id="logout-form" method="post" action="${esc(auth)}/logout" style="display:inline"><button id="logout" type="submit">Log out</button></form></div>
<pre id="out"></pre>
<script>
const AUTH = ${JSON.stringify(auth)};
const $ = (id) => document.getElementById(id);
async function render() {
  // The browser only holds an HttpOnly session cookie; the BFF says who it is.
  const r = await fetch(AUTH + "/session", { credentials: "same-origin" });
  if (r.status !== 200) {
    $("status").textContent = "You are not logged in.";
    $("anon").hidden = false; $("user").hidden = true;
    return;
  }
  const s = await r.json();
  $("status").textContent = "Logged in as " + (s.user && s.user.name ? s.user.name : s.sub) + " (" + s.sub + ")";
  $("status").dataset.sub = s.sub;
  $("anon").hidden = true; $("user").hidden = false;
}
$("login").onclick = () => { location.href = AUTH + "/login?return_to=" + encodeURIComponent(location.pathname); };
$("whoami").onclick = async () => {
  const r = await fetch("/api/whoami", { credentials: "same-origin" });
  $("out").textContent = r.status + "\\n" + JSON.stringify(await r.json().catch(() => null), null, 2);
  $("out").dataset.status = String(r.status);
};
render().catch((e) => { $("status").textContent = "error: " + e; });
</script></body></html>`;
}

/** Decodes a JWT payload (Envoy's jwt_authn has already verified it). */
function claimsOf(authorization: string | undefined): Record<string, unknown> | null {
  const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(authorization ?? "");
  if (!m) return null;
  try {
    return JSON.parse(Buffer.from(m[2], "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

export async function startDemoServer(opts: {
  appId: string;
  bffPrefix?: string;
  port?: number;
}): Promise<DemoServer> {
  const requests: DemoRequest[] = [];
  const html = page(opts.appId, opts.bffPrefix ?? "/auth");
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    if (requests.length > 1000) requests.shift(); // bounded for a long-running demo
    const path = new URL(req.url ?? "/", "http://demo").pathname;
    if (path === "/api/whoami") {
      const h = req.headers;
      const body = JSON.stringify({
        upstream: "demo-api",
        user: { sub: h["x-user-sub"], email: h["x-user-email"], name: h["x-user-name"] },
        token_claims: claimsOf(h.authorization),
        // Names only: the values of authorization would be the token.
        received_headers: Object.keys(h).sort(),
        cookie_header: h.cookie ?? null,
      });
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(body);
      return;
    }
    if (path === "/" || path === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(html);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"error":"not_found"}');
  });
  await new Promise<void>((r) => server.listen(opts.port ?? 0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
