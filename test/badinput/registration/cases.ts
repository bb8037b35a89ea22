// Malformed registration calls and the refusal each must get. A case is a
// method + request (or raw bytes) + credentials + the expected gRPC codes and
// fields. Built on the existing apps of the campaign's registry (their ids,
// hosts and revisions), so duplicates, route conflicts and wrong revisions
// are real conflicts, never a success by accident.
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import {
  CreateAppRequestSchema,
  UpdateAppRequestSchema,
} from "../../../protos/gen/sessiongate/v1/apps_pb.js";
import { baseSpec, TOKEN } from "../../xds/helpers.js";
import { badId, type Mutation, mutation, type Spec } from "./mutations.js";
import { parses, type RawCall, rawCall } from "./wire.js";

const S = grpc.status;

export interface ExistingApp {
  id: string;
  host: string;
  prefix: string;
  revision: bigint;
}

export interface RegContext {
  apps: ExistingApp[];
  publicPaths: boolean;
}

export interface RegCase {
  label: string;
  method: "createApp" | "updateApp" | "deleteApp" | "getApp" | "listApps" | "watchApps";
  req?: unknown;
  raw?: RawCall;
  /** authorization metadata values; [] = none. */
  auth: string[];
  codes: grpc.status[];
  /** One of these must start the details (INVALID_ARGUMENT / FAILED_PRECONDITION). */
  fields?: string[];
}

/** The secret every generated spec carries: it must never come back in an error. */
export const SECRET = "s3cr3t-marker-0123";

const GOOD_AUTH = [`Bearer ${TOKEN}`];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function spec(id: string, host = `${id}.fresh.test`, prefix = "/"): Spec {
  const s = baseSpec(id) as Spec;
  s.hosts = [host];
  s.pathPrefix = prefix;
  s.oidc.clientSecret = SECRET;
  return s;
}

const freshId = fc.integer({ min: 0, max: 1e9 }).map((n) => `fresh-${n}`);
const printable = fc
  .array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: 64 })
  .map((a) => String.fromCharCode(...a));

/**
 * Credentials the API must refuse: missing, empty, wrong, near-misses of the
 * real token, wrong scheme. (Two authorization values cannot be sent: Node's
 * http2 refuses them on the client, and grpc-js then drops the connection.)
 */
export const badAuth: fc.Arbitrary<string[]> = fc
  .oneof(
    fc.constant<string | null>(null),
    printable.filter((t) => t !== TOKEN).map((t) => `Bearer ${t}`),
    fc.constantFrom(
      "",
      `bearer ${TOKEN}`,
      `Bearer  ${TOKEN}`,
      `Bearer ${TOKEN} `,
      ` Bearer ${TOKEN}`,
      TOKEN,
      "Bearer",
      "Bearer ",
      `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}`,
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${TOKEN.toUpperCase()}`,
      `Bearer ${TOKEN},${TOKEN}`,
      `Bearer ${"x".repeat(4097)}`,
    ),
  )
  .map((v) => (v === null ? [] : [v]));

function fieldCase(ctx: RegContext): fc.Arbitrary<RegCase> {
  const create = fc
    .tuple(
      freshId,
      fc.array(mutation({ publicPaths: ctx.publicPaths, update: false }), { minLength: 1, maxLength: 3 }),
    )
    .map(([id, ms]) => {
      const distinct = ms.filter((x, i) => ms.findIndex((y) => y.top === x.top) === i);
      const s = spec(id);
      for (const x of distinct) x.apply(s);
      return caseOf("createApp", { app: s }, distinct);
    });
  const update = fc
    .tuple(
      fc.constantFrom(...ctx.apps),
      fc.array(mutation({ publicPaths: ctx.publicPaths, update: true }), { minLength: 1, maxLength: 2 }),
    )
    .map(([a, ms]) => {
      const distinct = ms.filter((x, i) => ms.findIndex((y) => y.top === x.top) === i);
      const s = spec(a.id, a.host, a.prefix);
      for (const x of distinct) x.apply(s);
      // The app's current revision: if validation let it through, it would apply.
      return caseOf("updateApp", { app: s, revision: a.revision }, distinct);
    });
  return fc.oneof({ weight: 4, arbitrary: create }, { weight: 1, arbitrary: update });
}

function caseOf(method: RegCase["method"], req: unknown, ms: Mutation[]): RegCase {
  return {
    label: ms.length === 1 ? `${method} ${ms[0].label}` : `${method} ${ms.length} bad fields`,
    method,
    req,
    auth: GOOD_AUTH,
    codes: [S.INVALID_ARGUMENT],
    fields: ms.map((x) => x.field),
  };
}

function conflictCase(ctx: RegContext): fc.Arbitrary<RegCase> {
  const app = fc.constantFrom(...ctx.apps);
  const ok = (label: string, method: RegCase["method"], req: unknown, code: grpc.status, field?: string) => ({
    label,
    method,
    req,
    auth: GOOD_AUTH,
    codes: [code],
    ...(field ? { fields: [field] } : {}),
  });
  // A nonzero revision no app has (so it can never match by chance).
  const wrongRev = () =>
    fc
      .oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: MAX_SAFE }))
      .filter((r) => !ctx.apps.some((x) => x.revision === r));
  return fc.oneof(
    fc
      .tuple(app, freshId)
      .map(([a, h]) =>
        ok("create duplicate id", "createApp", { app: spec(a.id, `${h}.test`) }, S.ALREADY_EXISTS),
      ),
    fc
      .tuple(app, freshId, fc.boolean(), fc.boolean(), fc.nat({ max: 3 }))
      .map(([a, id, upper, bff, extra]) => {
        // The same host (any case) and the same prefix, or the prefix of its BFF routes.
        const host = upper ? a.host.toUpperCase() : a.host;
        const prefix = bff ? `${a.prefix === "/" ? "" : a.prefix}/auth` : a.prefix;
        const s = spec(id, host, prefix);
        s.hosts = [...Array.from({ length: extra }, (_, i) => `x${i}.${id}.test`), host];
        return ok(
          `create route conflict${bff ? " (BFF routes)" : ""}`,
          "createApp",
          { app: s },
          S.FAILED_PRECONDITION,
          "hosts",
        );
      }),
    fc
      .tuple(app, app)
      .filter(([a, b]) => a.id !== b.id)
      .map(([a, b]) =>
        ok(
          "update onto another app's route",
          "updateApp",
          { app: spec(a.id, b.host, b.prefix), revision: a.revision },
          S.FAILED_PRECONDITION,
          "hosts",
        ),
      ),
    fc
      .tuple(app, wrongRev())
      .map(([a, r]) =>
        ok(
          "update stale revision",
          "updateApp",
          { app: spec(a.id, a.host, a.prefix), revision: r },
          S.FAILED_PRECONDITION,
          "revision",
        ),
      ),
    app.map((a) =>
      ok(
        "update revision 0",
        "updateApp",
        { app: spec(a.id, a.host, a.prefix), revision: 0n },
        S.INVALID_ARGUMENT,
        "revision",
      ),
    ),
    fc
      .tuple(app, fc.bigInt({ min: MAX_SAFE + 1n, max: 2n ** 64n - 1n }))
      .map(([a, r]) =>
        ok(
          "update revision out of range",
          "updateApp",
          { app: spec(a.id, a.host, a.prefix), revision: r },
          S.INVALID_ARGUMENT,
          "revision",
        ),
      ),
    fc
      .tuple(app, wrongRev())
      .map(([a, r]) =>
        ok(
          "delete wrong revision",
          "deleteApp",
          { id: a.id, revision: r },
          S.FAILED_PRECONDITION,
          "revision",
        ),
      ),
    fc
      .tuple(app, fc.bigInt({ min: MAX_SAFE + 1n, max: 2n ** 64n - 1n }))
      .map(([a, r]) =>
        ok(
          "delete revision out of range",
          "deleteApp",
          { id: a.id, revision: r },
          S.INVALID_ARGUMENT,
          "revision",
        ),
      ),
    freshId.map((id) => ok("get missing", "getApp", { id }, S.NOT_FOUND)),
    freshId.map((id) => ok("delete missing", "deleteApp", { id }, S.NOT_FOUND)),
    freshId.map((id) => ok("update missing", "updateApp", { app: spec(id), revision: 1n }, S.NOT_FOUND)),
    badId.map((id) => ok("get bad id", "getApp", { id }, S.INVALID_ARGUMENT, "id")),
    badId.map((id) => ok("delete bad id", "deleteApp", { id }, S.INVALID_ARGUMENT, "id")),
    badId.map((id) =>
      ok("update bad id", "updateApp", { app: { ...spec("x"), id }, revision: 1n }, S.INVALID_ARGUMENT, "id"),
    ),
    fc.constant(ok("create without app", "createApp", {}, S.INVALID_ARGUMENT, "app")),
  );
}

/** A request over the API's 1 MiB message limit. */
const oversize: fc.Arbitrary<RegCase> = fc
  .tuple(
    freshId,
    fc.integer({ min: (1 << 20) + 1024, max: 3 << 20 }),
    fc.constantFrom("id", "hosts", "oidc.clientSecret"),
  )
  .map(([id, n, where]) => {
    const s = spec(id);
    const big = "a".repeat(n);
    if (where === "id") s.id = big;
    else if (where === "hosts") s.hosts = [big];
    else s.oidc.clientSecret = big;
    return {
      label: `create over 1 MiB (${where})`,
      method: "createApp",
      req: { app: s },
      auth: GOOD_AUTH,
      codes: [S.RESOURCE_EXHAUSTED],
    };
  });

const raw: fc.Arbitrary<RegCase> = fc
  .tuple(
    rawCall,
    fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: badAuth }),
  )
  .map(([r, bad]) => {
    const ok = parses(r);
    return {
      label: `${r.label}${ok ? "" : " (unparsable)"}${bad ? " bad-auth" : ""}`,
      method: r.method,
      raw: r,
      auth: bad ?? GOOD_AUTH,
      // grpc-js fails an undecodable request before any handler (INTERNAL); a
      // decodable one reaches the API, which refuses the credentials or the content.
      codes: !ok
        ? [S.INTERNAL, S.INVALID_ARGUMENT]
        : bad
          ? [S.UNAUTHENTICATED]
          : [S.INVALID_ARGUMENT, S.NOT_FOUND],
    };
  });

/** Every kind of malformed call, weighted towards field validation. */
export function regCase(ctx: RegContext): fc.Arbitrary<RegCase> {
  const fields = fieldCase(ctx);
  const conflicts = conflictCase(ctx);
  const unauth = fc
    .tuple(
      fc.oneof(
        fields,
        conflicts,
        fc.constant<RegCase>({ label: "list", method: "listApps", req: {}, auth: [], codes: [] }),
      ),
      badAuth,
    )
    .map(([c, auth]) => ({
      ...c,
      label: `unauthenticated ${c.method}`,
      auth,
      codes: [S.UNAUTHENTICATED],
      fields: undefined,
    }));
  const watch = badAuth.map(
    (auth): RegCase => ({
      label: "unauthenticated watchApps",
      method: "watchApps",
      req: { initial: true },
      auth,
      codes: [S.UNAUTHENTICATED],
    }),
  );
  return fc
    .oneof(
      { weight: 50, arbitrary: fields },
      { weight: 20, arbitrary: conflicts },
      { weight: 15, arbitrary: unauth },
      { weight: 12, arbitrary: raw },
      { weight: 2, arbitrary: watch },
      { weight: 1, arbitrary: oversize },
    )
    .map(overLimit);
}

const SCHEMAS: Partial<Record<RegCase["method"], DescMessage>> = {
  createApp: CreateAppRequestSchema,
  updateApp: UpdateAppRequestSchema,
};

/** Several huge fields together can pass the API's 1 MiB limit: grpc-js refuses those before any check. */
function overLimit(c: RegCase): RegCase {
  const schema = c.raw ? undefined : SCHEMAS[c.method];
  if (!schema || c.codes.includes(S.RESOURCE_EXHAUSTED)) return c;
  // biome-ignore lint/suspicious/noExplicitAny: init object of the request schema.
  const size = toBinary(schema, create(schema, c.req as any)).length;
  if (size <= 1 << 20) return c;
  return { ...c, label: `${c.label} (over 1 MiB)`, codes: [S.RESOURCE_EXHAUSTED], fields: undefined };
}
