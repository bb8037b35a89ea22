// The demo pointed at an "external" provider purely by DEMO_* environment
// variables: the stack starts no OP of its own, and a browser login at that
// provider reaches the demo API with its JWT.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, expect, it } from "vitest";
import { resolveApps } from "../demo/apps.js";
import { externalIdpFromEnv } from "../demo/idp.js";
import { type DemoStack, startDemoStack } from "../demo/stack.js";
import { freePort, type OpHandle, REPO_ROOT, startBrowser, startOP } from "../harness/index.js";
import { budget } from "../harness/slowness.js";

const SECRET = "external-client-secret-0123456789";
let idp: OpHandle;
let stack: DemoStack;
const saved = { ...process.env };

beforeAll(async () => {
  const port = await freePort();
  const base = `http://localhost:${port}/auth/demo`;
  // Stands in for Keycloak/Okta: a provider the demo only knows by URL.
  idp = await startOP({
    clients: [
      {
        client_id: "ext-client",
        client_secret: SECRET,
        redirect_uris: [`${base}/callback`],
        post_logout_redirect_uris: [`${base}/logout/callback`],
      },
    ],
    audience: "https://ext-api.test",
  });
  Object.assign(process.env, {
    DEMO_ISSUER: idp.issuer,
    DEMO_CLIENT_ID: "ext-client",
    DEMO_CLIENT_SECRET: SECRET,
    DEMO_AUDIENCE: "https://ext-api.test",
    DEMO_SCOPES: "openid profile email",
  });
  stack = await startDemoStack({ port });
}, budget(120_000));

afterAll(() => {
  process.env = saved;
});

it("reads the provider from DEMO_* variables and starts no OP of its own", () => {
  expect(externalIdpFromEnv()?.issuer).toBe(idp.issuer);
  expect(stack.op).toBeNull();
  expect(stack.user).toBeNull();
  delete process.env.DEMO_AUDIENCE;
  expect(() => externalIdpFromEnv()).toThrow(/DEMO_AUDIENCE is required/);
  process.env.DEMO_AUDIENCE = "https://ext-api.test";
});

it("a browser login at the external provider reaches the API with its JWT", async () => {
  const browser = await startBrowser();
  const page = await (await browser.newContext()).newPage();
  await page.goto(stack.loginUrl);
  await page.waitForURL((u) => u.origin === idp.issuer);
  await page.fill('input[name="username"]', "bob");
  await page.fill('input[name="password"]', "builder");
  await page.click('button[type="submit"]');
  await page.waitForURL(stack.url, { timeout: budget(15_000) });
  await page
    .locator("#status", { hasText: "Logged in as Bob Builder (bob)" })
    .waitFor({ timeout: budget(10_000) });
  await page.click("#whoami");
  await page.locator('#out[data-status="200"]').waitFor({ timeout: budget(10_000) });
  const got = stack.demo.requests.filter((r) => r.path === "/api/whoami").at(-1)!;
  expect(got.headers["x-user-sub"]).toBe("bob");
  const claims = JSON.parse(
    Buffer.from(String(got.headers.authorization).split(".")[1], "base64url").toString("utf8"),
  );
  expect(claims.iss).toBe(idp.issuer);
  expect(claims.aud).toBe("https://ext-api.test");
  expect(idp.counts.authorization_code).toBe(1);
});

it("registers the app without a JWKS URI: the xds-server took the provider's from discovery", async () => {
  expect(process.env.DEMO_JWKS_URI).toBeUndefined();
  const dump = await (await fetch(`${stack.envoy.adminUrl}/config_dump`)).text();
  expect(dump).toContain(idp.jwksUri);
});

it("with an external provider, --app ID:tokenExchange keeps the app id demo and so the registered redirect URIs", () => {
  const ext = {
    issuer: idp.issuer,
    clientId: "ext-client",
    clientSecret: SECRET,
    audience: "https://ext-api.test",
  };
  const [app] = resolveApps([{ id: "admin", mode: "tokenExchange" }], 8080, "/auth", ext);
  expect(app.id).toBe("demo");
  expect(app.mode).toBe("tokenExchange");
  expect(app.authBase).toBe("http://localhost:8080/auth/demo");
  // The demo OP's own apps keep their ids.
  expect(resolveApps([{ id: "admin" }], 8080, "/auth", null)[0].id).toBe("admin");
});

it("the demo does not load oidc-provider (nor print its warning) unless its own OP runs", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "test/demo/run.ts", "--help"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: budget(60_000),
  });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain("Usage: npm run demo");
  expect(r.stderr).not.toContain("oidc-provider");
});
