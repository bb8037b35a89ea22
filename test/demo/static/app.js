// The demo SPA. Everything about the session goes through the sessiongate
// browser client ("sessiongate" in the import map: the BFF's client.js for
// this app). bff mode: the page never holds a token, the gateway swaps the
// session cookie for one. tokenExchange mode: the client keeps a short-lived
// access token in memory and sends it as a Bearer token.
import { createSession } from "sessiongate";

const sg = createSession();
const $ = (id) => document.getElementById(id);

$("mode").textContent =
  sg.mode === "tokenExchange"
    ? `App "${sg.app}", tokenExchange mode: this page holds a short-lived access token in memory and calls the API with it.`
    : `App "${sg.app}", bff mode: this page holds no token; the gateway swaps the session cookie for one.`;

function show(info) {
  if (!info) {
    $("status").textContent = "You are not logged in.";
    delete $("status").dataset.sub;
    $("anon").hidden = false;
    $("user").hidden = true;
    $("out").textContent = "";
    delete $("out").dataset.status;
    return;
  }
  const name = info.user?.name ?? info.sub;
  $("status").textContent = `Logged in as ${name} (${info.sub})`;
  $("status").dataset.sub = info.sub;
  $("anon").hidden = true;
  $("user").hidden = false;
}

async function callApi() {
  // Next to this script's folder: "/api/whoami", or "/cart/api/whoami" for an app under /cart.
  const res = await sg.fetch(new URL("../api/whoami", import.meta.url).pathname);
  const body = await res.json().catch(() => null);
  $("out").textContent = `${res.status}\n${JSON.stringify(body, null, 2)}`;
  $("out").dataset.status = String(res.status);
}

function fail(err) {
  $("out").textContent = `error: ${err?.message ?? err}`;
  $("out").dataset.status = "error";
}

/** Asks the BFF who is logged in and, if someone is, calls the API once. */
async function render() {
  const info = await sg.session();
  if (info) await callApi();
}

sg.onChange(show);
$("login").addEventListener("click", () => sg.login());
$("logout").addEventListener("click", () => sg.logout());
$("whoami").addEventListener("click", () => callApi().catch(fail));
// A session can end in another tab: look again when this one is shown.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") render().catch(fail);
});
// For the browser tests: re-check the session on demand.
window.demo = { render };
render().catch(fail);
