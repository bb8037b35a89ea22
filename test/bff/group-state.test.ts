// An app group's sealed login state and its members
// (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps): a
// state opens only for its own group, expired logins drop out, the cookie
// stays under the browsers' 4 KB, and a login is for a member with the
// group's provider client only. The BFF file refuses a group whose members
// name different clients.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type AppConfig, ConfigError, validateConfig } from "../../bff/config/schema.js";
import { groupMember, groupMembers } from "../../bff/oidc/group.js";
import { type GroupLogin, openGroupLogins, sealGroupLogins } from "../../bff/oidc/group-state.js";
import type { KeyRing } from "../../bff/session/crypto.js";

const ring: KeyRing = {
  active: "k1",
  keys: new Map([["k1", randomBytes(32)]]),
  hashKey: randomBytes(32),
};

const login = (app: string, extra: Partial<GroupLogin> = {}): GroupLogin => ({
  app,
  state: randomBytes(32).toString("base64url"),
  nonce: randomBytes(32).toString("base64url"),
  pkceVerifier: randomBytes(32).toString("base64url"),
  returnTo: `https://shop.test/${app}/`,
  expiresAt: Date.now() + 600_000,
  silent: false,
  ...extra,
});

const app = (id: string, extra: Partial<AppConfig> = {}): AppConfig => ({
  id,
  mode: "bff",
  issuer: "https://op.test",
  clientId: "shop",
  redirectUri: `https://shop.test/auth/${id}/callback`,
  scopes: ["openid"],
  cookie: `__Host-sg-${id}`,
  publicOrigin: "https://shop.test",
  allowedOrigins: ["https://shop.test"],
  authParams: {},
  routeBase: "",
  source: "file",
  group: "shop",
  ...extra,
});

describe("group login state", () => {
  it("opens for its own group only, and keeps each login's app, return_to and silent flag", () => {
    const a = login("cart", { silent: true });
    const b = login("catalog");
    const sealed = sealGroupLogins(ring, "shop", [a, b]);
    expect(openGroupLogins(ring, "shop", sealed)).toEqual([a, b]);
    expect(openGroupLogins(ring, "other", sealed)).toBeNull();
    expect(openGroupLogins(ring, "shop", `${sealed.slice(0, -3)}AAA`)).toBeNull();
    expect(openGroupLogins(ring, "shop", "v1.k1.x.y")).toBeNull();
    expect(openGroupLogins(ring, "shop", undefined)).toBeNull();
  });

  it("drops expired logins and keeps at most four, the newest, under 4 KB", () => {
    const old = login("cart", { expiresAt: Date.now() - 1 });
    const fresh = Array.from({ length: 6 }, (_, i) => login(`m${i}`));
    const opened = openGroupLogins(ring, "shop", sealGroupLogins(ring, "shop", [old, ...fresh]));
    expect(opened?.map((l) => l.app)).toEqual(["m2", "m3", "m4", "m5"]);
    const long = Array.from({ length: 4 }, (_, i) =>
      login(`m${i}`, { returnTo: `https://shop.test/${"x".repeat(2000)}` }),
    );
    const sealed = sealGroupLogins(ring, "shop", long);
    expect(sealed.length).toBeLessThanOrEqual(3600);
    expect(openGroupLogins(ring, "shop", sealed)?.at(-1)?.app).toBe("m3");
  });
});

describe("group members", () => {
  const members = groupMembers([app("catalog"), app("cart"), app("solo", { group: undefined })], "shop");

  it("lists the group's apps by id", () => {
    expect(members.map((m) => m.id)).toEqual(["cart", "catalog"]);
  });

  it("refuses an app outside the group, an unknown group and a member with another client", () => {
    expect(groupMember(members, "shop", "catalog").id).toBe("catalog");
    expect(() => groupMember(members, "shop", "solo")).toThrow(/not in group shop/);
    expect(() => groupMember(members, "shop", null)).toThrow(/not in group shop/);
    expect(() => groupMember([], "nope", "cart")).toThrow(/no app in group nope/);
    const odd = groupMembers([app("cart"), app("catalog", { clientId: "other" })], "shop");
    expect(() => groupMember(odd, "shop", "catalog")).toThrow(/another provider client/);
    const secret = groupMembers([app("cart"), app("catalog", { clientSecret: "other" })], "shop");
    expect(() => groupMember(secret, "shop", "catalog")).toThrow(/another provider client/);
  });

  it("the BFF's file refuses a group whose apps name different clients, naming the field", () => {
    const file = (apps: unknown[]) => () =>
      validateConfig({
        redis: { url: "redis://127.0.0.1:6379" },
        keys: { keys: { k1: randomBytes(32).toString("base64") } },
        apps,
      });
    const a = (id: string, clientId: string, group = "shop") => ({
      id,
      issuer: "https://op.test",
      client_id: clientId,
      redirect_uri: `https://shop.test/auth/${id}/callback`,
      group,
    });
    expect(file([a("cart", "shop"), a("catalog", "shop")])).not.toThrow();
    expect(file([a("cart", "shop"), a("catalog", "other")])).toThrow(ConfigError);
    expect(file([a("cart", "shop"), a("catalog", "other")])).toThrow(/apps\[1\]\.client_id: group shop/);
    expect(file([a("cart", "shop"), { ...a("catalog", "shop"), client_secret: "x" }])).toThrow(
      /apps\[1\]\.client_secret: group shop/,
    );
    expect(file([a("cart", "shop", "Bad_Group")])).toThrow(/apps\[0\]\.group/);
    expect(file([{ ...a("cart", "shop"), cookie: "__Host-sg-_g-shop" }])).toThrow(/apps\[0\]\.cookie/);
  });
});
