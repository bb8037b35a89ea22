// Client secrets in the registry: sealed with AES-256-GCM before any store
// sees them, readable only over BffDirectory with the BFF token, and key
// rotation keeps old records readable. Real Redis, in-process control planes.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import type { BffAppEvent } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { BffDirectoryClient } from "../../xds-server/api/bff-directory.js";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { ConfigError, parseConfig } from "../../xds-server/config.js";
import { parseSecretKeys, SecretBox } from "../../xds-server/registry/secrets.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { onCleanup, REPO_ROOT, type RedisHandle, startProcess, startRedis } from "../harness/index.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "./helpers.js";

const S = grpc.status;
const BFF_TOKEN = "bff-token-0123456789abcdef";
const K1 = `k1:${randomBytes(32).toString("base64")}`;
const K2 = `k2:${randomBytes(32).toString("base64")}`;
const SECRET1 = `first-secret-${randomBytes(8).toString("hex")}`;
const SECRET2 = `second-secret-${randomBytes(8).toString("hex")}`;

let redis: RedisHandle;
let rc: Redis;

beforeAll(async () => {
  redis = await startRedis();
  rc = new Redis(redis.url);
  onCleanup(() => rc.disconnect());
});

async function server(keys: string, active?: string, prefix = "sg:"): Promise<RunningServer> {
  const srv = await startServer(
    inProcessServerConfig({
      redisUrl: redis.url,
      redisPrefix: prefix,
      bffTokens: [BFF_TOKEN],
      secretKeys: parseSecretKeys(keys, active),
    }),
    pino({ level: "silent" }),
  );
  onCleanup(() => srv.stop());
  return srv;
}

const spec = (id: string, secret: string) => {
  const s = baseSpec(id) as { oidc: Record<string, unknown> };
  s.oidc.clientSecret = secret;
  return s;
};

/** The BFF directory's snapshot (events up to SYNCED), or the gRPC error code. */
function bffSnapshot(port: number, token: string): Promise<BffAppEvent[] | grpc.status> {
  const c = new BffDirectoryClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${token}`);
  return new Promise((resolve, reject) => {
    const events: BffAppEvent[] = [];
    const s = c.watchBffApps({}, md);
    const t = setTimeout(() => reject(new Error("no SYNCED within 10 s")), 10_000);
    const done = (v: BffAppEvent[] | grpc.status) => {
      clearTimeout(t);
      s.cancel();
      c.close();
      resolve(v);
    };
    s.on("data", (e: BffAppEvent) => {
      events.push(e);
      if (e.type === "SYNCED") done(events);
    });
    s.on("error", (e: grpc.ServiceError) => {
      if (e.code !== S.CANCELLED) done(e.code);
    });
  });
}

/** Every key under the prefix and every value (hash fields and values included) as raw bytes. */
async function rawRegistry(prefix: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await rc.scanBuffer(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next.toString();
    for (const k of keys) {
      out.push(k);
      const type = await rc.type(k);
      if (type === "string") out.push((await rc.getBuffer(k)) ?? Buffer.alloc(0));
      else if (type === "hash")
        out.push(
          ...(await rc.hgetallBuffer(k).then((h) =>
            Object.entries(h)
              .flat()
              .map((x) => Buffer.from(x)),
          )),
        );
      else if (type === "list") out.push(...(await rc.lrangeBuffer(k, 0, -1)));
      else if (type === "set") out.push(...(await rc.smembersBuffer(k)));
      else if (type === "zset") out.push(...(await rc.zrangeBuffer(k, 0, -1)));
      const dump = await rc.dumpBuffer(k);
      if (dump) out.push(dump);
    }
  } while (cursor !== "0");
  return out;
}

describe("client secrets", () => {
  let srv: RunningServer;
  let admin: Client;
  let bffAsAdmin: Client;

  beforeAll(async () => {
    srv = await server(K1);
    admin = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
    bffAsAdmin = connect(`127.0.0.1:${srv.apiPort}`, BFF_TOKEN);
    onCleanup(() => {
      admin.close();
      bffAsAdmin.close();
    });
  });

  it("invariant 8: client secrets are encrypted at rest and never read back through the admin API", async () => {
    const a = await admin.unary<unknown, { revision: bigint }>(
      "createApp",
      { app: spec("inv8", SECRET1) },
      5000,
    );
    await admin.unary("updateApp", { app: spec("inv8", SECRET2), revision: a.revision }, 5000);
    await admin.unary("createApp", { app: spec("inv8b", SECRET1) }, 5000);

    const raw = await rawRegistry("sg:");
    expect(raw.length).toBeGreaterThan(5);
    const all = Buffer.concat(raw);
    expect(all.includes("sgenc1:k1:")).toBe(true);
    for (const secret of [SECRET1, SECRET2]) {
      expect(all.includes(secret)).toBe(false);
      expect(all.includes(Buffer.from(secret).toString("base64"))).toBe(false);
    }

    // The admin API: status only, on every read path.
    const got = await admin.unary<
      unknown,
      { spec: { oidc: { clientSecret: string; clientSecretStatus: string } } }
    >("getApp", { id: "inv8" }, 5000);
    expect(got.spec.oidc.clientSecret).toBe("");
    expect(got.spec.oidc.clientSecretStatus).toMatch(/^set \(sha256:[0-9a-f]{8}\)$/);
    const list = await admin.unary<unknown, object>("listApps", {}, 5000);
    const watched = await new Promise<string>((resolve) => {
      const s = admin.raw.watchApps({ initial: true }, admin.metadata());
      let text = "";
      s.on("data", (e: object) => {
        text += JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? String(v) : v));
        if (text.includes("inv8b")) {
          s.cancel();
          resolve(text);
        }
      });
      s.on("error", () => resolve(text));
    });
    const text = JSON.stringify([got, list], (_k, v) => (typeof v === "bigint" ? String(v) : v)) + watched;
    expect(watched).toContain("inv8");
    for (const secret of [SECRET1, SECRET2]) expect(text).not.toContain(secret);

    // The admin token cannot use the BFF's read; the BFF token can.
    expect(await bffSnapshot(srv.apiPort, TOKEN)).toBe(S.PERMISSION_DENIED);
    expect(await bffSnapshot(srv.apiPort, "nope-nope-nope-nope-nope")).toBe(S.UNAUTHENTICATED);
    const snap = await bffSnapshot(srv.apiPort, BFF_TOKEN);
    if (typeof snap === "number") throw new Error(`WatchBffApps failed: ${S[snap]}`);
    const inv8 = snap.find((e) => e.id === "inv8");
    expect(inv8?.type).toBe("ADDED");
    expect(inv8?.app?.clientSecret).toBe(SECRET2);
    expect(inv8?.app?.publicOrigin).toBe("https://inv8.test");
    expect(snap.at(-1)?.type).toBe("SYNCED");
  });

  it("the BFF token reads the directory only: every AppRegistry call is PERMISSION_DENIED", async () => {
    const calls: [string, unknown][] = [
      ["createApp", { app: spec("by-bff", SECRET1) }],
      ["updateApp", { app: spec("inv8", "x-secret-from-bff"), revision: 1n }],
      ["deleteApp", { id: "inv8" }],
      ["getApp", { id: "inv8" }],
      ["listApps", {}],
    ];
    for (const [method, req] of calls) {
      const err = await bffAsAdmin.unary(method, req, 5000).then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code, method).toBe(S.PERMISSION_DENIED);
    }
    const code = await new Promise<number>((resolve) => {
      const s = bffAsAdmin.raw.watchApps({ initial: true }, bffAsAdmin.metadata());
      s.on("error", (e: grpc.ServiceError) => resolve(e.code));
      s.on("data", () => resolve(-1));
    });
    expect(code).toBe(S.PERMISSION_DENIED);
    expect(srv.store.snapshot().apps.some((a) => a.spec.id === "by-bff")).toBe(false);
  });

  it("refuses BFF-side fields that are malformed, naming the field", async () => {
    const bad: [string, Record<string, unknown>][] = [
      ["oidc.public_origin", { publicOrigin: "https://x.test/path" }],
      ["oidc.public_origin", { publicOrigin: "http://x.test" }],
      ["oidc.post_logout_redirect_uri", { postLogoutRedirectUri: "not a url" }],
      ["oidc.auth_params.state", { authParams: { state: "x" } }],
      ["oidc.auth_params.res ource", { authParams: { "res ource": "x" } }],
    ];
    for (const [field, extra] of bad) {
      const s = spec("badfield", SECRET1);
      Object.assign(s.oidc, extra);
      const err = await admin.unary("createApp", { app: s }, 5000).then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code, field).toBe(S.INVALID_ARGUMENT);
      expect(err?.details, field).toContain(`${field}:`);
    }
    const s = spec("goodfield", SECRET1);
    Object.assign(s.oidc, {
      publicOrigin: "https://portal.test:8443",
      postLogoutRedirectUri: "https://portal.test:8443/bye",
      authParams: { resource: "https://api.test" },
    });
    await admin.unary("createApp", { app: s }, 5000);
    // http is accepted for loopback names only, *.localhost included (local multi-app setups).
    const local = spec("localorigin", SECRET1);
    local.oidc.publicOrigin = "http://a.localhost:8080";
    await admin.unary("createApp", { app: local }, 5000);
    const snap = await bffSnapshot(srv.apiPort, BFF_TOKEN);
    if (typeof snap === "number") throw new Error(S[snap]);
    const app = snap.find((e) => e.id === "goodfield")?.app;
    expect(app?.publicOrigin).toBe("https://portal.test:8443");
    expect(app?.postLogoutRedirectUri).toBe("https://portal.test:8443/bye");
    expect(app?.authParams).toEqual({ resource: "https://api.test" });
    expect(snap.find((e) => e.id === "localorigin")?.app?.publicOrigin).toBe("http://a.localhost:8080");
  });
});

describe("secret key rotation", () => {
  it("a registry written with k1 still works after a restart with k1,k2 (active k2); without k1 its apps are withheld", async () => {
    const prefix = "rot:";
    const a = await server(K1, undefined, prefix);
    const c1 = connect(`127.0.0.1:${a.apiPort}`, TOKEN);
    await c1.unary("createApp", { app: spec("old", SECRET1) }, 5000);
    const mig = await c1.unary<unknown, { revision: bigint }>(
      "createApp",
      { app: spec("mig", SECRET1) },
      5000,
    );
    c1.close();
    await a.stop();

    const b = await server(`${K1},${K2}`, "k2", prefix);
    const snap = await bffSnapshot(b.apiPort, BFF_TOKEN);
    if (typeof snap === "number") throw new Error(S[snap]);
    expect(snap.find((e) => e.id === "old")?.app?.clientSecret).toBe(SECRET1);
    const c2 = connect(`127.0.0.1:${b.apiPort}`, TOKEN);
    await c2.unary("createApp", { app: spec("new", SECRET2) }, 5000);
    // An update without a secret re-seals the stored one under the active key.
    await c2.unary("updateApp", { app: spec("mig", ""), revision: mig.revision }, 5000);
    c2.close();
    const stored = await rc.hgetall(`${prefix}apps`);
    expect(JSON.parse(stored.old).clientSecret).toMatch(/^sgenc1:k1:/);
    expect(JSON.parse(stored.new).clientSecret).toMatch(/^sgenc1:k2:/);
    expect(JSON.parse(stored.mig).clientSecret).toMatch(/^sgenc1:k2:/);
    await b.stop();

    // k1 retired too early: the app sealed with it is withheld from the BFF
    // (fail closed), the others are served, and the admin status says why.
    const c = await server(K2, undefined, prefix);
    const snap2 = await bffSnapshot(c.apiPort, BFF_TOKEN);
    if (typeof snap2 === "number") throw new Error(S[snap2]);
    expect(snap2.map((e) => e.id)).toEqual(["mig", "new", ""]);
    expect(snap2.find((e) => e.id === "mig")?.app?.clientSecret).toBe(SECRET1);
    expect(snap2.find((e) => e.id === "new")?.app?.clientSecret).toBe(SECRET2);
    const c3 = connect(`127.0.0.1:${c.apiPort}`, TOKEN);
    const old = await c3.unary<unknown, { spec: { oidc: { clientSecretStatus: string } } }>(
      "getApp",
      { id: "old" },
      5000,
    );
    expect(old.spec.oidc.clientSecretStatus).toMatch(/^set \(unreadable: .*k1 is not configured/);
    const err = await c3
      .unary(
        "updateApp",
        { app: spec("old", ""), revision: (old as unknown as { revision: bigint }).revision },
        5000,
      )
      .then(
        () => null,
        (e: grpc.ServiceError) => e,
      );
    c3.close();
    expect(err?.code).toBe(S.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/^oidc\.client_secret: the stored secret cannot be read/);
  });

  it("a sealed secret is bound to its app: copied onto another app it does not open", () => {
    const box = new SecretBox(parseSecretKeys(K1));
    const sealed = box.seal("a", SECRET1);
    expect(box.open("a", sealed)).toBe(SECRET1);
    expect(() => box.open("b", sealed)).toThrow(/does not authenticate/);
  });
});

describe("configuration", () => {
  const base = ["--api-token", TOKEN, "--xds-insecure"];
  const err = (argv: string[]) => {
    try {
      parseConfig(argv, {});
      return "";
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
  };

  it("validates the key list and the BFF token", () => {
    expect(err([...base, "--secret-keys", "k1:short"])).toMatch(/32 bytes/);
    expect(err([...base, "--secret-keys", `${K1},${K1}`])).toMatch(/duplicate key id k1/);
    expect(err([...base, "--secret-keys", K1, "--secret-key-active", "k9"])).toMatch(/k9/);
    expect(err([...base, "--bff-token", "short"])).toMatch(/--bff-token/);
    expect(err([...base, "--bff-token", TOKEN])).toMatch(/must differ/);
    expect(err([...base, "--redis-url", "redis://127.0.0.1:1", "--bff-token", BFF_TOKEN])).toMatch(
      /--secret-keys .* is required/,
    );
    const ok = parseConfig([...base, "--secret-keys", `${K1},${K2}`, "--bff-token", BFF_TOKEN], {});
    if (ok === "help") throw new Error("help");
    expect(ok.secretKeys?.active).toBe("k2");
    expect(ok.bffTokens).toEqual([BFF_TOKEN]);
    const viaEnv = parseConfig(base, { SESSIONGATE_SECRET_KEYS: K1, SESSIONGATE_BFF_TOKEN: BFF_TOKEN });
    if (viaEnv === "help") throw new Error("help");
    expect(viaEnv.secretKeys?.active).toBe("k1");
  });

  it("the server exits 2 naming the missing flag (Redis registry + BFF token, no key)", async () => {
    const p = await startProcess({
      name: "xds-no-key",
      cmd: process.execPath,
      args: ["--import", "tsx", join(REPO_ROOT, "xds-server/main.ts"), `--redis-url=${redis.url}`],
      env: { SESSIONGATE_API_TOKEN: TOKEN, SESSIONGATE_BFF_TOKEN: BFF_TOKEN },
      cwd: REPO_ROOT,
    });
    await new Promise<void>((r) => (p.exited() ? r() : p.child.once("exit", () => r())));
    expect(p.child.exitCode).toBe(2);
    expect(p.log()).toMatch(/--secret-keys .* is required with --redis-url and --bff-token/);
  });
});
