// One source for the shared rules: the registration API (xds-server validateApp)
// accepts exactly the app ids and cookie names the BFF (bff/config parseApp)
// accepts, both being contracts/rules.ts. An app the API takes is one the BFF
// serves: before, `cookie_name: sid` was pushed to Envoy and then refused by
// the BFF, and the BFF took an id ending in '-' that the API refused.
import { describe, expect, it } from "vitest";
import { parseApp } from "../../bff/config/schema.js";
import {
  appCookieNameProblem,
  cookieNameProblem,
  defaultCookieName,
  inCookieNamespace,
  isAppId,
  joinPrefix,
  loginCookieName,
} from "../../contracts/rules.js";
import { validateApp } from "../../xds-server/registry/validate.js";

const IDS = [
  "a",
  "web",
  "a-b",
  "web-",
  "-web",
  "Web",
  "a_b",
  "x".repeat(63),
  "x".repeat(64),
  "web-login",
  "",
];
const COOKIES = [
  "__Host-sg-web",
  "__Host-sg-a.b",
  "sid",
  "__Host-sid",
  "__Host-sg-",
  "__host-sg-web",
  "__Host-sg-web-login",
  "__Host-sg-a;b",
  `__Host-sg-${"x".repeat(112)}`,
  `__Host-sg-${"x".repeat(113)}`,
  // Kept for app groups (their sign-in cookies): refused as an app's own cookie.
  "__Host-sg-_g-shop",
  "__host-SG-_x",
];

function apiAccepts(id: string, cookieName?: string): boolean {
  try {
    validateApp({
      id,
      hosts: ["app.test"],
      oidc: { issuer: "https://op.test", clientId: "c", clientSecret: "s" },
      session: cookieName === undefined ? {} : { cookieName },
      upstreams: ["127.0.0.1:8080"],
      jwt: { issuer: "https://op.test", audiences: ["api"], remoteJwksUri: "https://op.test/jwks" },
    });
    return true;
  } catch {
    return false;
  }
}

function bffAccepts(id: string, cookie?: string): boolean {
  try {
    parseApp(
      {
        id,
        issuer: "https://op.test",
        client_id: "c",
        client_secret: "s",
        redirect_uri: "https://app.test/auth/x/callback",
        ...(cookie === undefined ? {} : { cookie }),
      },
      "app",
      new Set(),
    );
    return true;
  } catch {
    return false;
  }
}

describe("shared rules: the API refuses what the BFF would refuse", () => {
  it.each(IDS)("app id %j: API and BFF agree, and follow contracts/rules.ts", (id) => {
    const expected = isAppId(id) && cookieNameProblem(defaultCookieName(id)) === null;
    expect(apiAccepts(id)).toBe(expected);
    expect(bffAccepts(id)).toBe(expected);
  });

  it.each(COOKIES)("cookie name %j: API and BFF agree, and follow contracts/rules.ts", (cookie) => {
    const expected = appCookieNameProblem(cookie) === null;
    expect(apiAccepts("web", cookie)).toBe(expected);
    expect(bffAccepts("web", cookie)).toBe(expected);
  });

  it("every cookie sessiongate may set is in the reserved namespace", () => {
    for (const c of COOKIES.filter((x) => cookieNameProblem(x) === null)) {
      expect(inCookieNamespace(c)).toBe(true);
      expect(inCookieNamespace(loginCookieName(c))).toBe(true);
    }
  });

  it("joins an app's path prefix and the BFF prefix as both sides route it", () => {
    expect(joinPrefix("/", "/auth")).toBe("/auth");
    expect(joinPrefix("/mall", "/auth")).toBe("/mall/auth");
  });
});
