// An app registered without jwt.remote_jwks_uri gets the one its issuer's
// discovery document names (a real OP), stored in the app at create and update
// time; a discovery that fails or names another issuer refuses the call, which
// then changes nothing.
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Client, connect } from "../../xds-server/cli/client.js";
import { type RunningServer, startServer } from "../../xds-server/server.js";
import { freePort, type OpHandle, startOP, stopAll } from "../harness/index.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "./helpers.js";

let srv: RunningServer;
let api: Client;
let op: OpHandle;

type Wire = { spec: { jwt: { remoteJwksUri: string } }; revision: bigint };

function spec(id: string, jwtIssuer: string, jwksUri?: string) {
  const s = structuredClone(baseSpec(id)) as { jwt: Record<string, unknown> };
  s.jwt.issuer = jwtIssuer;
  if (jwksUri) s.jwt.remoteJwksUri = jwksUri;
  else delete s.jwt.remoteJwksUri;
  return s;
}

async function refused(method: string, req: unknown): Promise<{ code: number; details: string }> {
  try {
    await api.unary(method, req, 10_000);
  } catch (e) {
    const err = e as { code: number; details: string };
    return { code: err.code, details: err.details };
  }
  throw new Error(`${method} was accepted`);
}

async function missing(id: string): Promise<boolean> {
  return (await refused("getApp", { id })).code === grpc.status.NOT_FOUND;
}

beforeAll(async () => {
  op = await startOP({ clients: [] });
  srv = await startServer(inProcessServerConfig(), pino({ level: "silent" }));
  api = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
}, 60_000);

afterAll(async () => {
  api?.close();
  await srv?.stop();
  await stopAll(false);
});

describe("jwt.remote_jwks_uri from the issuer's discovery document", () => {
  it("create without it stores the jwks_uri the OP's discovery document names", async () => {
    const doc = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as {
      jwks_uri: string;
    };
    const created = await api.unary<unknown, Wire>("createApp", { app: spec("disc", op.issuer) }, 10_000);
    expect(created.spec.jwt.remoteJwksUri).toBe(doc.jwks_uri);
    expect(doc.jwks_uri).toBe(op.jwksUri);
    const got = await api.unary<unknown, Wire>("getApp", { id: "disc" }, 5000);
    expect(got.spec.jwt.remoteJwksUri).toBe(op.jwksUri);
  });

  it("an explicit URI is kept as given; an update without one discovers it again", async () => {
    const explicit = "https://keys.example.test/jwks";
    const a = await api.unary<unknown, Wire>("createApp", { app: spec("expl", op.issuer, explicit) }, 10_000);
    expect(a.spec.jwt.remoteJwksUri).toBe(explicit);
    const b = await api.unary<unknown, Wire>(
      "updateApp",
      { app: spec("expl", op.issuer), revision: a.revision },
      10_000,
    );
    expect(b.spec.jwt.remoteJwksUri).toBe(op.jwksUri);
  });

  it("an unreachable issuer refuses the registration, naming the field and the URL, and creates nothing", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await refused("createApp", { app: spec("dead", dead) });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toContain("jwt.remote_jwks_uri: not given, and discovery at");
    expect(r.details).toContain(`${dead}/.well-known/openid-configuration`);
    expect(await missing("dead")).toBe(true);
  });

  it("a document naming another issuer is refused (Discovery §4.3)", async () => {
    // The same OP reached under another name: its document says 127.0.0.1, not localhost.
    const other = op.issuer.replace("127.0.0.1", "localhost");
    const r = await refused("createApp", { app: spec("other-iss", other) });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/jwt\.remote_jwks_uri: .* names issuer/);
    expect(await missing("other-iss")).toBe(true);
  });

  it("a failed update leaves the stored app as it was", async () => {
    const a = await api.unary<unknown, Wire>("createApp", { app: spec("keep", op.issuer) }, 10_000);
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await refused("updateApp", { app: spec("keep", dead), revision: a.revision });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    const got = await api.unary<unknown, Wire>("getApp", { id: "keep" }, 5000);
    expect(got.revision).toBe(a.revision);
    expect(got.spec.jwt.remoteJwksUri).toBe(op.jwksUri);
  });

  it("a JWT issuer that is not a URL needs the URI given", async () => {
    const r = await refused("createApp", { app: spec("urn-iss", "urn:example:issuer") });
    expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toContain("jwt.remote_jwks_uri: not given, and jwt.issuer");
    expect(await missing("urn-iss")).toBe(true);
  });
});
