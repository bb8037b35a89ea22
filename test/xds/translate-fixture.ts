// The translator's test fixture: a config, three apps covering every feature
// (public paths, ext_authz, claim headers, a sidecar, a DNS upstream, a host
// "*"), and the golden-file helper (UPDATE_GOLDEN=1 rewrites the files).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { expect } from "vitest";
import { encodeResource } from "../../xds-server/cache/encode.js";
import type { AppRecord, RegistrySnapshot } from "../../xds-server/registry/types.js";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { PUSH_ORDER } from "../../xds-server/resource/types.js";
import { type NodeRole, type TranslateConfig, translate } from "../../xds-server/translate/index.js";

export const GOLDEN = join(import.meta.dirname, "golden");

export const cfg: TranslateConfig = {
  bff: {
    publicAddr: { host: "127.0.0.1", port: 3000 },
    internalAddr: { host: "127.0.0.1", port: 3001 },
    prefix: "/auth",
    authority: "sessiongate-bff",
    internalKey: "k",
    timeoutMs: 2000,
  },
  wasm: {
    url: "http://127.0.0.1:18002/wasm/session-to-token.wasm",
    sha256: "0123456789abcdef".repeat(4),
    codeServer: { host: "127.0.0.1", port: 18002 },
  },
  cache: { enabled: true, slots: 16384, skewS: 10, maxTtlS: 30 },
  gateway: { address: "0.0.0.0", port: 10000 },
};

export function rec(raw: RawAppSpec, revision: number): AppRecord {
  const { spec, clientSecret } = validateApp({
    oidc: { issuer: "https://op.test", clientId: "c", clientSecret: "s" },
    ...raw,
  });
  return {
    spec,
    clientSecret,
    revision,
    createdAt: "2026-01-01T00:00:00.000Z",
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
}

export const jwt = (iss: string, jwks: string, claims: { claim: string; header: string }[] = []) => ({
  issuer: iss,
  audiences: ["api"],
  remoteJwksUri: jwks,
  claimHeaders: claims,
});

const apps: AppRecord[] = [
  rec(
    {
      id: "shop",
      hosts: ["shop.example.com"],
      pathPrefix: "/",
      upstreams: ["10.0.0.1:8080", "10.0.0.2:8080"],
      jwt: jwt("https://op.test", "https://op.test/jwks", [{ claim: "sub", header: "x-user" }]),
      // "/api/docs" lies in app "api"'s prefix on this host: never routed as shop's.
      publicPaths: ["/", "/index.html", "/assets/*", "/api/docs"],
    },
    3,
  ),
  rec(
    {
      id: "api",
      hosts: ["shop.example.com", "api.example.com:8443"],
      pathPrefix: "/api",
      session: { mode: "tokenExchange" },
      upstreams: ["api.internal:9000"],
      jwt: jwt("https://op.test", "https://op.test/jwks"),
      extAuthz: { target: "127.0.0.1:9191", timeoutMs: 500, failMode: "open" },
    },
    5,
  ),
  rec(
    {
      id: "any",
      hosts: ["*"],
      pathPrefix: "/public",
      upstreams: ["10.0.0.9:80"],
      jwt: jwt("http://127.0.0.1:9000", "http://127.0.0.1:9000/jwks.json"),
      sidecar: { service: "any-svc", inboundPort: 15001 },
      publicPaths: ["/public/health"],
    },
    7,
  ),
];
export const snap: RegistrySnapshot = {
  revision: 7,
  apps: [...apps].sort((a, b) => a.spec.id.localeCompare(b.spec.id)),
};

export function golden(name: string, value: unknown) {
  const file = join(GOLDEN, `${name}.json`);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  expect(existsSync(file), `${file} missing: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(text).toBe(readFileSync(file, "utf8"));
}

/** One node's translation as the golden files hold it: per type (short name), `{ name, apps, resource }`. */
export function render(
  role: NodeRole,
): Record<string, { name: string; apps: string[]; resource: unknown }[]> {
  const set = translate(snap, cfg, role);
  const out: Record<string, { name: string; apps: string[]; resource: unknown }[]> = {};
  for (const t of PUSH_ORDER) {
    for (const r of set[t]) expect(() => encodeResource(t, r.json), `${t} ${r.name}`).not.toThrow();
    out[t.split(".").at(-1)!] = set[t].map((r) => ({ name: r.name, apps: r.apps, resource: r.json }));
  }
  return out;
}
