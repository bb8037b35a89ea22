// The BFF's `registry` section: a malformed one exits 2 naming the field; file
// apps win over registry apps with the same id; a registry app under a path
// prefix is served where Envoy routes it (<path_prefix><prefix>/<id>/...).
// Real in-process xds-server (memory registry), real OP, real BFF.
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { startBff, validateConfig } from "../../bff/index.js";
import { connect } from "../../xds-server/cli/client.js";
import { startServer } from "../../xds-server/server.js";
import { onCleanup, REPO_ROOT, startOP, startProcess, startRedis, waitFor } from "../harness/index.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "../xds/helpers.js";
import { bffConfig, opClient, ports, startLogin, type TestApp, writeConfig } from "./helpers.js";

const BFF_TOKEN = "bff-directory-token-0123456789";

async function exitOf(name: string, config: unknown): Promise<{ code: number | null; log: string }> {
  const p = await startProcess({
    name,
    cmd: process.execPath,
    args: [
      "--import",
      "tsx",
      join(REPO_ROOT, "bff/main.ts"),
      "--config",
      writeConfig(name, config),
      "--check",
    ],
    cwd: REPO_ROOT,
  });
  await new Promise<void>((r) => (p.exited() ? r() : p.child.once("exit", () => r())));
  return { code: p.child.exitCode, log: p.log() };
}

describe("BFF registry configuration", () => {
  it("a malformed registry section is refused naming the field (the command exits 2)", async () => {
    const base = bffConfig({
      publicPort: 0,
      redisUrl: "redis://127.0.0.1:1",
      issuer: "http://127.0.0.1:2",
      apps: [],
    });
    const reg = (r: unknown) => ({ ...base, apps: undefined, registry: r });
    const cases: [string, unknown, RegExp][] = [
      ["reg-address", reg({ address: "no-port", token: BFF_TOKEN }), /registry\.address/],
      ["reg-no-token", reg({ address: "127.0.0.1:18001" }), /registry\.token: is required/],
      [
        "reg-short-token",
        reg({ address: "127.0.0.1:18001", token: "short" }),
        /registry\.token: must be >= 16/,
      ],
      [
        "reg-token-file",
        reg({ address: "127.0.0.1:18001", token_file: "/nonexistent/t" }),
        /registry\.token_file/,
      ],
      [
        "reg-tls",
        reg({ address: "127.0.0.1:18001", token: BFF_TOKEN, tls: { cert: "/etc/hostname" } }),
        /registry\.tls\.cert/,
      ],
      ["reg-type", reg("127.0.0.1:18001"), /registry: must be an object/],
      ["no-apps", { ...base, apps: undefined }, /apps: must be a non-empty list/],
    ];
    // The field rules in-process; the exit code through the real command.
    for (const [name, cfg, re] of cases)
      expect(() => validateConfig(JSON.parse(JSON.stringify(cfg))), name).toThrow(re);
    const [bad, ok] = await Promise.all([
      exitOf("reg-address", cases[0][1]),
      exitOf("reg-ok", reg({ address: "127.0.0.1:18001", token: BFF_TOKEN })),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.log).toMatch(/registry\.address/);
    expect(ok.code).toBe(0);
  });

  it("file apps win on id clashes; an app under a path prefix is served below it", async () => {
    const [publicPort] = await ports(1);
    const publicUrl = `http://127.0.0.1:${publicPort}`;
    const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
    const redis = await startRedis();
    const op = await startOP({ clients: [opClient(publicUrl, WEB)] });
    const srv = await startServer(
      inProcessServerConfig({ bffTokens: [BFF_TOKEN] }),
      pino({ level: "silent" }),
    );
    onCleanup(() => srv.stop());
    const admin = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
    onCleanup(() => admin.close());
    const app = (id: string, pathPrefix: string) => {
      const s = baseSpec(id) as Record<string, unknown> & { oidc: Record<string, unknown> };
      s.pathPrefix = pathPrefix;
      Object.assign(s.oidc, { issuer: op.issuer, clientId: `registry-${id}`, publicOrigin: publicUrl });
      return s;
    };
    await admin.unary("createApp", { app: app("web", "/") }, 5000);
    await admin.unary("createApp", { app: app("shop", "/shop") }, 5000);

    const bff = await startBff(
      validateConfig(
        bffConfig({
          publicPort,
          redisUrl: redis.url,
          issuer: op.issuer,
          apps: [WEB],
          extra: { registry: { address: `127.0.0.1:${srv.apiPort}`, token: BFF_TOKEN } },
        }),
      ),
      { defaultMetrics: false },
    );
    onCleanup(() => bff.close());
    await waitFor("synced", async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200, 15_000);

    const web = new URL((await startLogin(publicUrl, "web")).location);
    expect(web.searchParams.get("client_id")).toBe("client-web");

    const shop = await fetch(`${publicUrl}/shop/auth/shop/login`, { redirect: "manual" });
    expect(shop.status).toBe(302);
    const loc = new URL(shop.headers.get("location") ?? "");
    expect(loc.searchParams.get("client_id")).toBe("registry-shop");
    expect(loc.searchParams.get("redirect_uri")).toBe(`${publicUrl}/shop/auth/shop/callback`);
    // Not reachable outside its own path prefix.
    const root = await fetch(`${publicUrl}/auth/shop/login`, { redirect: "manual" });
    expect(root.status).toBe(404);
    expect(await root.json()).toMatchObject({ error: "unknown_app" });
    const web2 = await fetch(`${publicUrl}/shop/auth/web/login`, { redirect: "manual" });
    expect(web2.status).toBe(404);
  });
});
