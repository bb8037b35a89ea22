// Generators of one malformed field of an AppSpec (protobuf-es init form) and
// the field the INVALID_ARGUMENT must name. Each value is invalid by the
// documented rule (xds-server/README.md, validate.ts), never by accident:
// bad characters are drawn from sets the rule excludes, lengths from past the
// limit, and URLs from schemes/forms the rule refuses.
import fc from "fast-check";

// biome-ignore lint/suspicious/noExplicitAny: specs are plain init objects mutated in place.
export type Spec = Record<string, any>;

export interface Mutation {
  /** Short label for the outcome table, e.g. "hosts:bad-char". */
  label: string;
  /** The field INVALID_ARGUMENT must name (details start with it). */
  field: string;
  /** The spec's top-level key it touches (two mutations combine only on different keys). */
  top: string;
  apply(s: Spec): void;
}

const m = (label: string, field: string, top: string, apply: (s: Spec) => void): Mutation => ({
  label,
  field,
  top,
  apply,
});

// Characters outside every name/host/prefix rule of the validator.
const CONTROL = fc.constantFrom("\u0000", "\n", "\r", "\t", "\u001f", "\u007f");
const HOST_BAD = fc.oneof(
  CONTROL,
  fc.constantFrom(" ", "_", "/", "@", "!", ",", ";", "%", "*", "?", "#", "\\", "~", '"', "ä", "\u2024", "ı"),
);
const PREFIX_BAD = fc.oneof(
  CONTROL,
  fc.constantFrom(" ", "?", "#", '"', "<", ">", "\\", "^", "`", "{", "|", "}", "ä", "\u2215", "\uff0f"),
);
const COOKIE_BAD = fc.oneof(
  CONTROL,
  fc.constantFrom(" ", ";", ",", "=", '"', "(", ")", "/", ":", "<", "@", "[", "\\", "{", "ä"),
);
const SCOPE_BAD = fc.oneof(CONTROL, fc.constantFrom(" ", '"', "\\", "ä", "\u00a0"));

/** `base` with `bad` inserted at a generated position. */
const inject = (base: string, bad: fc.Arbitrary<string>) =>
  fc.tuple(fc.nat({ max: base.length }), bad).map(([i, c]) => base.slice(0, i) + c + base.slice(i));

const long = (min: number, max: number, ch = "a") => fc.integer({ min, max }).map((n) => ch.repeat(n));

export const badId = fc.oneof(
  fc.constant(""),
  inject("fresh-app", fc.oneof(HOST_BAD, fc.constantFrom("A", "Z", ".", ":"))),
  fc.constantFrom("-app", "app-", "-", "Shop", "a_b", "../base", "base/", "app\u0000"),
  long(64, 70_000),
);

const badHost = fc.oneof(
  inject("fresh-app.test", HOST_BAD),
  fc.constantFrom(
    "",
    "a..b",
    ".a.test",
    "a.test.",
    "-a.test",
    "a-.test",
    "a.test:0",
    "a.test:65536",
    "a.test:99999",
    "a.test:",
    ":80",
    "256.1.1.1",
    "[zz]",
    "[::1",
    "http://a.test",
    "a.test/x",
    "*.a.test",
    "a.*",
  ),
  long(64, 200).map((l) => `${l}.test`),
  fc.integer({ min: 130, max: 20_000 }).map((n) => "ab.".repeat(n).slice(0, -1)),
);

const badPrefix = fc.oneof(
  inject("/api/v1", PREFIX_BAD).filter((p) => p.startsWith("/")),
  fc.constantFrom("api", "a/b", "/a/", "/a/../b", "/..", "/.", "/./a", "/a/.", "//a", "/a//b", "/a b", "\\a"),
  long(256, 100_000).map((l) => `/${l}`),
);

/** URLs the issuer / JWKS / origin rules refuse: not a URL, not https (non-loopback), credentials, fragment. */
const badUrl = fc.oneof(
  fc.constantFrom(
    "not a url",
    "op.test",
    "//op.test",
    "https://",
    "http://op.example.com",
    "http://10.0.0.1/x",
    "ftp://op.test/jwks",
    "ws://op.test",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "data:text/plain,x",
    "https://u:p@op.test",
    "https://u@op.test",
    "https://op.test/#frag",
  ),
  fc
    .tuple(fc.constantFrom("ftp", "gopher", "ws", "wss", "file", "http"), inject("op.example", HOST_BAD))
    .map(([s, h]) => `${s}://${h}/`),
);

/** Strings required by the validator: empty, past the limit, or with a control character. */
const badStr = (max: number) =>
  fc.oneof(fc.constant(""), long(max + 1, max + 50_000, "x"), inject("value", CONTROL));

/** A valid list with one entry at a generated index replaced by a bad one. */
function listWith<T>(field: string, label: string, valid: (i: number) => T, bad: fc.Arbitrary<T>, max = 4) {
  return fc
    .tuple(fc.integer({ min: 1, max }), fc.nat(), bad)
    .map(([len, at, b]) => {
      const i = at % len;
      const a = Array.from({ length: len }, (_, k) => valid(k));
      a[i] = b;
      return { a, i };
    })
    .map(({ a, i }) => ({ label, field: `${field}[${i}]`, a }));
}

const tooMany = <T>(over: number, valid: (i: number) => T) =>
  fc.integer({ min: over + 1, max: over + 20 }).map((n) => Array.from({ length: n }, (_, i) => valid(i)));

const host = (i: number) => `h${i}.fresh.test`;
const upstream = (i: number) => `127.0.0.1:${9000 + i}`;
const scope = (i: number) => (i === 0 ? "openid" : `scope${i}`);

/** Every single-field mutation, weighted so each field is hit often. */
export function mutation(opts: { publicPaths: boolean; update: boolean }): fc.Arbitrary<Mutation> {
  const set =
    (path: string) =>
    (v: unknown) =>
    (s: Spec): void => {
      const keys = path.split(".");
      let o = s;
      for (const k of keys.slice(0, -1)) o = o[k] ??= {};
      if (v === undefined) delete o[keys.at(-1) as string];
      else o[keys.at(-1) as string] = v;
    };
  const one = (label: string, field: string, path: string, arb: fc.Arbitrary<unknown>) =>
    arb.map((v) => m(label, field, path.split(".")[0], set(path)(v)));
  const list = <T>(path: string, field: string, valid: (i: number) => T, bad: fc.Arbitrary<T>, max = 4) =>
    listWith(field, `${field}:entry`, valid, bad, max).map((x) =>
      m(x.label, x.field, path.split(".")[0], set(path)(x.a)),
    );

  const arbs: fc.Arbitrary<Mutation>[] = [
    one("hosts:empty", "hosts", "hosts", fc.constant([])),
    one("hosts:too-many", "hosts", "hosts", tooMany(32, host)),
    list("hosts", "hosts", host, badHost),
    fc
      .tuple(
        fc.integer({ min: 0, max: 3 }),
        fc.constantFrom(
          (h: string) => h.toUpperCase(),
          (h: string) => h,
        ),
      )
      .map(([k, f]) => {
        const a = Array.from({ length: k + 1 }, (_, i) => host(i));
        a.push(f(a[k]));
        return m("hosts:duplicate", `hosts[${a.length - 1}]`, "hosts", set("hosts")(a));
      }),
    one("path_prefix", "path_prefix", "pathPrefix", badPrefix),
    one("oidc:missing", "oidc", "oidc", fc.constant(undefined)),
    one("oidc.issuer", "oidc.issuer", "oidc.issuer", fc.oneof(badUrl, fc.constant(""))),
    one("oidc.client_id", "oidc.client_id", "oidc.clientId", badStr(256)),
    one("oidc.scopes:no-openid", "oidc.scopes", "oidc.scopes", fc.constantFrom(["profile"], ["email", "x"])),
    one("oidc.scopes:too-many", "oidc.scopes", "oidc.scopes", tooMany(32, scope)),
    list(
      "oidc.scopes",
      "oidc.scopes",
      scope,
      fc.oneof(fc.constant(""), inject("scope", SCOPE_BAD), long(129, 5000)),
    ),
    one(
      "oidc.client_secret",
      "oidc.client_secret",
      "oidc.clientSecret",
      // An empty secret on update keeps the stored one (valid), so only create gets "".
      opts.update
        ? fc.oneof(long(513, 20_000, "s"), inject("s3cr3t", CONTROL))
        : fc.oneof(fc.constant(""), long(513, 20_000, "s"), inject("s3cr3t", CONTROL)),
    ),
    one(
      "session.mode",
      "session.mode",
      "session.mode",
      fc
        .oneof(fc.constantFrom("cookie", "BFF", "token_exchange", "bff ", "tokenexchange"), fc.string())
        .filter((x) => x !== "" && x !== "bff" && x !== "tokenExchange"),
    ),
    one(
      "session.cookie_name",
      "session.cookie_name",
      "session.cookieName",
      fc.oneof(inject("__Host-sg-x", COOKIE_BAD), long(129, 5000)),
    ),
    one(
      "session.allowed_origins:too-many",
      "session.allowed_origins",
      "session.allowedOrigins",
      tooMany(32, (i) => `https://o${i}.test`),
    ),
    list(
      "session.allowedOrigins",
      "session.allowed_origins",
      (i) => `https://o${i}.test`,
      fc.oneof(
        badUrl,
        fc.constantFrom(
          "https://a.test/",
          "https://a.test/x",
          "https://A.test",
          "https://a.test?q",
          "null",
          "",
        ),
      ),
    ),
    one("upstreams:empty", "upstreams", "upstreams", fc.constant([])),
    one("upstreams:too-many", "upstreams", "upstreams", tooMany(64, upstream)),
    list(
      "upstreams",
      "upstreams",
      upstream,
      fc.oneof(
        fc.constantFrom(
          "",
          "127.0.0.1",
          ":80",
          "h.test:0",
          "h.test:65536",
          "h.test:abc",
          "h.test:-1",
          "[zz]:80",
          "a..b:80",
        ),
        badHost.filter((h) => !h.includes(":") && h !== "").map((h) => `${h}:80`),
      ),
    ),
    fc.integer({ min: 0, max: 3 }).map((k) => {
      const a = Array.from({ length: k + 1 }, (_, i) => upstream(i));
      a.push(a[k]);
      return m("upstreams:duplicate", `upstreams[${a.length - 1}]`, "upstreams", set("upstreams")(a));
    }),
    one("jwt:missing", "jwt", "jwt", fc.constant(undefined)),
    one("jwt.issuer", "jwt.issuer", "jwt.issuer", badStr(512)),
    one("jwt.audiences:empty", "jwt.audiences", "jwt.audiences", fc.constant([])),
    one(
      "jwt.audiences:too-many",
      "jwt.audiences",
      "jwt.audiences",
      tooMany(16, (i) => `aud${i}`),
    ),
    list("jwt.audiences", "jwt.audiences", (i) => `aud${i}`, badStr(256)),
    one("jwt.remote_jwks_uri", "jwt.remote_jwks_uri", "jwt.remoteJwksUri", fc.oneof(badUrl, fc.constant(""))),
    fc
      .tuple(
        fc.integer({ min: 1, max: 4 }),
        fc.nat(),
        fc.oneof(
          fc
            .constantFrom(
              "authorization",
              "cookie",
              "host",
              "x-envoy-foo",
              "x-sessiongate-app",
              "x y",
              "",
              "-x",
              "x_y",
            )
            .map((header) => ({ claim: "sub", header, part: "header" })),
          fc
            .constantFrom("", "a b", "-", ".x", "ä")
            .map((claim) => ({ claim, header: "x-ok", part: "claim" })),
        ),
      )
      .map(([len, at, bad]) => {
        const i = at % len;
        const a = Array.from({ length: len }, (_, k) => ({ claim: `c${k}`, header: `x-c${k}` }));
        a[i] = { claim: bad.claim, header: bad.header };
        // The validator names the sub-field: claim_headers[i].claim or .header.
        return m(
          `jwt.claim_headers:${bad.part}`,
          `jwt.claim_headers[${i}].${bad.part}`,
          "jwt",
          set("jwt.claimHeaders")(a),
        );
      }),
    one(
      "jwt.jwks_cache_duration_s",
      "jwt.jwks_cache_duration_s",
      "jwt.jwksCacheDurationS",
      fc.integer({ min: 86_401, max: 2 ** 32 - 1 }),
    ),
    one(
      "ext_authz.target",
      "ext_authz.target",
      "extAuthz",
      fc.oneof(badHost, fc.constant("nohostport")).map((target) => ({ target })),
    ),
    one(
      "ext_authz.timeout_ms",
      "ext_authz.timeout_ms",
      "extAuthz",
      fc
        .integer({ min: 60_001, max: 2 ** 32 - 1 })
        .map((timeoutMs) => ({ target: "127.0.0.1:9000", timeoutMs })),
    ),
    one(
      "ext_authz.fail_mode",
      "ext_authz.fail_mode",
      "extAuthz",
      fc
        .string()
        .filter((x) => !["", "open", "closed"].includes(x))
        .map((failMode) => ({ target: "127.0.0.1:9000", failMode })),
    ),
    one(
      "sidecar.service",
      "sidecar.service",
      "sidecar",
      fc
        .oneof(fc.constant(""), inject("svc", PREFIX_BAD), long(129, 1000))
        .map((service) => ({ service, inboundPort: 80 })),
    ),
    one(
      "sidecar.inbound_port",
      "sidecar.inbound_port",
      "sidecar",
      fc
        .oneof(fc.constant(0), fc.integer({ min: 65_536, max: 2 ** 32 - 1 }))
        .map((inboundPort) => ({ service: "svc", inboundPort })),
    ),
  ];
  if (!opts.update) arbs.push(one("id", "id", "id", badId));
  if (opts.publicPaths) {
    // Valid entries lie under the spec's own path_prefix (the rule), the bad one breaks a rule whatever the prefix.
    const under = (s: Spec, p: string) => (s.pathPrefix && s.pathPrefix !== "/" ? s.pathPrefix : "") + p;
    const badPublic = fc.oneof(
      fc.constantFrom(
        "",
        "x",
        "x/*",
        "/x/**",
        "/x*",
        "/*/x",
        "/*",
        "/x/../y",
        "//x",
        "/x y",
        "/x?y",
        "/x#y",
        "/a%20b",
      ),
      inject("/pub", PREFIX_BAD),
      long(256, 20_000).map((l) => `/${l}`),
    );
    arbs.push(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.nat(), badPublic).map(([len, at, b]) => {
        const i = at % len;
        return m("public_paths:entry", `public_paths[${i}]`, "publicPaths", (s) => {
          const a = Array.from({ length: len }, (_, k) => under(s, k % 2 ? `/p${k}` : `/p${k}/*`));
          a[i] = b;
          s.publicPaths = a;
        });
      }),
      fc.constantFrom("/auth", "/auth/*", "/auth/x").map((p) =>
        m("public_paths:bff-routes", "public_paths[0]", "publicPaths", (s) => {
          s.publicPaths = [under(s, p)];
        }),
      ),
      fc.integer({ min: 65, max: 80 }).map((n) =>
        m("public_paths:too-many", "public_paths", "publicPaths", (s) => {
          s.publicPaths = Array.from({ length: n }, (_, k) => under(s, `/p${k}`));
        }),
      ),
      fc.constant(
        m("public_paths:duplicate", "public_paths[1]", "publicPaths", (s) => {
          s.publicPaths = [under(s, "/p"), under(s, "/p")];
        }),
      ),
    );
  }
  // App groups (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps): the
  // group's name has the app-id form; its routes and cookies are kept.
  arbs.push(
    one(
      "group:bad",
      "group",
      "group",
      badId.filter((g) => g !== ""),
    ),
    one(
      "group:kept-prefix",
      "path_prefix",
      "pathPrefix",
      fc.constantFrom("/auth/_group", "/auth/_group/shop"),
    ),
    one(
      "group:kept-cookie",
      "session.cookie_name",
      "session.cookieName",
      fc.constantFrom("__Host-sg-_g-shop", "__Host-sg-_x", "__host-sg-_g-a"),
    ),
  );
  return fc.oneof(...arbs);
}
