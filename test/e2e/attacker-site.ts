// A page on another origin that auto-submits a form to the app (CSRF). The
// same server answers as http://127.0.0.1:<port> (another site than
// localhost) and http://localhost:<port> (same site as the gateway on
// localhost, other origin: SameSite=Strict cookies are sent from there).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { onCleanup } from "../harness/index.js";

export interface AttackerSite {
  port: number;
  /** A page on `origin` that POSTs `fields` as a form to `target` on load. */
  formPage(origin: "cross-site" | "same-site", target: string, fields?: Record<string, string>): string;
  /** A page on `origin` with a plain link (`#link`) to `target`: a GET navigation when clicked. */
  linkPage(origin: "cross-site" | "same-site", target: string): string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export async function startAttackerSite(): Promise<AttackerSite> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://attacker");
    const target = url.searchParams.get("target") ?? "";
    if (url.searchParams.get("link") === "1") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!DOCTYPE html><html><body><a id="link" href="${esc(target)}">Read more</a></body></html>`);
      return;
    }
    const fields = JSON.parse(url.searchParams.get("fields") ?? "{}") as Record<string, string>;
    const inputs = Object.entries(fields)
      .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
      .join("");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!DOCTYPE html><html><body><h1>You won a prize</h1>
<form id="f" method="post" action="${esc(target)}">${inputs}</form>
<script>document.getElementById("f").submit()</script></body></html>`);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  onCleanup(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    formPage: (origin, target, fields = {}) => {
      const host = origin === "cross-site" ? "127.0.0.1" : "localhost";
      const q = new URLSearchParams({ target, fields: JSON.stringify(fields) });
      return `http://${host}:${port}/?${q}`;
    },
    linkPage: (origin, target) => {
      const host = origin === "cross-site" ? "127.0.0.1" : "localhost";
      return `http://${host}:${port}/?${new URLSearchParams({ target, link: "1" })}`;
    },
  };
}
