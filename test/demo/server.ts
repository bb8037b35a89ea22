// The demo SPA + API upstream: one small node:http server behind the gateway.
// `/` is the SPA shell (test/demo/static/, listed in demo-app.yaml's
// public_paths so it loads before login): it imports the BFF's browser client
// (`<prefix>/<app>/client.js`, through the gateway) and works in either session
// mode. `/api/whoami` answers with what the upstream received: the claim
// headers and the claims of the token jwt_authn validated, never the token
// itself. Every request is recorded for the browser tests.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { renderTemplate } from "../harness/template.js";

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

const STATIC_DIR = join(import.meta.dirname, "static");
const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

interface Asset {
  type: string;
  body: Buffer;
  headers?: Record<string, string>;
}

function shell(appId: string, bffPrefix: string, base: string): Asset {
  // App ids and prefixes are [A-Za-z0-9._~/-] (BFF config): safe inside the JSON string.
  const html = renderTemplate(readFileSync(join(STATIC_DIR, "index.html"), "utf8"), {
    CLIENT_URL: `${base}${bffPrefix}/${appId}/client.js`,
    BASE: base,
  });
  // Scripts only from this origin (the gateway: the SPA and the BFF's client)
  // plus the inline import map, pinned by its hash.
  const importMap = /<script type="importmap">([^<]*)<\/script>/.exec(html)?.[1] ?? "";
  const mapHash = createHash("sha256").update(importMap).digest("base64");
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'sha256-${mapHash}'`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return {
    type: "text/html; charset=utf-8",
    body: Buffer.from(html),
    headers: { "content-security-policy": csp },
  };
}

function staticAsset(name: string): Asset {
  const ext = name.slice(name.lastIndexOf("."));
  return { type: TYPES[ext], body: readFileSync(join(STATIC_DIR, name)) };
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

function whoami(h: IncomingHttpHeaders): string {
  return JSON.stringify({
    upstream: "demo-api",
    user: { sub: h["x-user-sub"], email: h["x-user-email"], name: h["x-user-name"] },
    token_claims: claimsOf(h.authorization),
    // Names only: the value of authorization would be the token.
    received_headers: Object.keys(h).sort(),
    cookie_header: h.cookie ?? null,
  });
}

export async function startDemoServer(opts: {
  appId: string;
  bffPrefix?: string;
  /** Informational: the SPA learns the mode from the client the BFF serves. */
  mode?: "bff" | "tokenExchange";
  port?: number;
  /**
   * The app's path prefix (default "/"): the gateway does not rewrite paths,
   * so an app under `/cart` is served at `/cart/`, `/cart/api/whoami`, ….
   */
  pathPrefix?: string;
}): Promise<DemoServer> {
  const requests: DemoRequest[] = [];
  const base = !opts.pathPrefix || opts.pathPrefix === "/" ? "" : opts.pathPrefix;
  const index = shell(opts.appId, opts.bffPrefix ?? "/auth", base);
  const assets = new Map<string, Asset>([
    [`${base}/`, index],
    [`${base}/index.html`, index],
    [`${base}/static/app.js`, staticAsset("app.js")],
    [`${base}/static/demo.css`, staticAsset("demo.css")],
  ]);
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    if (requests.length > 1000) requests.shift(); // bounded for a long-running demo
    const path = new URL(req.url ?? "/", "http://demo").pathname;
    if (path === `${base}/api/whoami`) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(whoami(req.headers));
      return;
    }
    const asset = assets.get(path);
    if (asset && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(200, {
        "content-type": asset.type,
        "content-length": asset.body.length,
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
        ...asset.headers,
      });
      res.end(req.method === "HEAD" ? undefined : asset.body);
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
