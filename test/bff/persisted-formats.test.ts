// What the BFF has already written stays readable after an upgrade: session
// records in Redis (old sessions survive) and login cookies in flight (a login
// started before completes after). docs/architecture.md#redis-key-layout and
// #cookies give the formats.
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { decrypt, encrypt, type KeyRing } from "../../bff/session/crypto.js";
import { OpBrowser, type OpHandle } from "../harness/index.js";
import {
  internalToken,
  json,
  KEY1,
  login,
  sessionKeys,
  setCookies,
  startLogin,
  startTwoAppBff,
  type TwoAppBff,
} from "./helpers.js";

let op: OpHandle;
let bff: TwoAppBff["bff"];
let publicUrl: string;
let rc: Redis;
const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", Buffer.from(KEY1, "base64")]]),
  hashKey: Buffer.alloc(0),
};

beforeAll(async () => {
  ({ op, bff, publicUrl, rc } = await startTwoAppBff());
});

/** The one session key in Redis that `before` did not hold. */
async function newKey(before: string[]): Promise<string> {
  const added = (await sessionKeys(rc)).filter((k) => !before.includes(k));
  expect(added).toHaveLength(1);
  return added[0];
}

describe("session records in Redis", () => {
  it("a record written before the format field was named `version` (v: 1) still loads, with its tokens", async () => {
    const before = await sessionKeys(rc);
    const r = await login(publicUrl, op, "web");
    const key = await newKey(before);
    const record = JSON.parse((await rc.get(key)) as string);
    // What this version writes.
    expect(record.version).toBe(1);
    expect(record).not.toHaveProperty("v");
    // The record exactly as the previous version wrote it: same fields and order, `v` for `version`.
    const { version: _, ...rest } = record;
    const old = { v: 1, ...rest };
    const ttl = await rc.pttl(key);
    await rc.set(key, JSON.stringify(old), "PX", ttl);

    const info = await fetch(`${publicUrl}/auth/web/session`, {
      headers: { cookie: `__Host-sg-web=${r.session}` },
    });
    expect(info.status).toBe(200);
    expect((await json(info)).sub).toBe(record.sub);
    const token = await internalToken(bff.internalUrl, "web", r.session);
    expect(token.status).toBe(200);
    expect((await json(token)).access_token).toEqual(expect.any(String));
  });
});

describe("login cookies in flight", () => {
  it("keep the short field names s, n, v, r, e, and a cookie sealed that way completes its login", async () => {
    const start = await startLogin(publicUrl, "web", "/after");
    const wire = JSON.parse(decrypt(ring, start.loginCookie, "login:web"));
    expect(Object.keys(wire).sort()).toEqual(["e", "n", "r", "s", "v"]);
    expect(wire.r).toBe(`${publicUrl}/after`);
    // Sealed afresh, field by field, as the previous version did.
    const sealed = encrypt(
      ring,
      JSON.stringify({ s: wire.s, n: wire.n, v: wire.v, r: wire.r, e: wire.e }),
      "login:web",
    );
    const callbackUrl = await new OpBrowser(op.issuer).login(start.location, {
      username: "alice",
      password: "wonderland",
    });
    const cb = await fetch(callbackUrl, {
      redirect: "manual",
      headers: { cookie: `__Host-sg-web-login=${sealed}` },
    });
    expect(cb.status).toBe(200);
    expect(cb.headers.get("refresh")).toBe(`0;url=${publicUrl}/after`);
    expect(setCookies(cb).get("__Host-sg-web")?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
