// ADS over mTLS with node authentication, against real Envoys: a gateway and
// two sidecars connect with their workload certificates; clients without a
// certificate, with a foreign one or an expired one are refused and see no
// resource; a node cannot claim another node's id, cluster or role; and no
// refused client can change an app's delivery status.
import "reflect-metadata";
import { createPrivateKey, webcrypto } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as x509 from "@peculiar/x509";
import { service as healthService } from "grpc-health-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeltaDiscoveryResponse } from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { AdsClient } from "../../xds-server/ads/service.js";
import { CertificateAuthority, type IssuedIdentity } from "../../xds-server/identity/ca.js";
import { TYPE_URLS } from "../../xds-server/resource/types.js";
import { budget, freePort, REPO_ROOT, startEcho, startEnvoy } from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  until,
  writeApp,
} from "./helpers.js";
import { writeIdentityFiles } from "./identity-files.js";

const TD = "mesh.test";
const dir = mkdtempSync(join(tmpdir(), "sg-ads-mtls-"));
let ca: CertificateAuthority;
let cp: ControlPlane;
let jwks: Jwks;
let env: Record<string, string>;
const ports = { gw: 0, a: 0, b: 0 };

/** A certificate from the mesh CA that expired an hour ago (the CA itself never issues one). */
async function expiredFrom(authority: CertificateAuthority, name: string): Promise<IssuedIdentity> {
  const crypto = webcrypto;
  const alg = { name: "ECDSA", namedCurve: "P-256" };
  const der = createPrivateKey(authority.keyPem).export({ format: "der", type: "pkcs8" });
  const signingKey = await crypto.subtle.importKey("pkcs8", der, alg, false, ["sign"]);
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const issuer = new x509.X509Certificate(authority.certPem);
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: `CN=${name}`,
      issuer: issuer.subjectName,
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: keys.publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${TD}/gateway/${name}` }]),
      ],
    },
    crypto,
  );
  const keyPem = x509.PemConverter.encode(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
    "PRIVATE KEY",
  );
  return {
    spiffeId: `spiffe://${TD}/gateway/${name}`,
    certChainPem: cert.toString("pem"),
    keyPem,
    bundlePem: authority.bundlePem,
    notAfter: cert.notAfter,
  };
}

interface Attempt {
  resources: number;
  code?: number;
  details?: string;
  /** Ends a stream left open (after a NACK). */
  end(): void;
}

/** One Delta ADS stream from grpc-js: how many resources it got before the call ended. */
function attempt(
  identity: IssuedIdentity | "none" | "plaintext",
  node: { id: string; cluster: string; metadata?: Record<string, unknown> },
  opts: { nack?: boolean } = {},
): Promise<Attempt> {
  const creds =
    identity === "plaintext"
      ? grpc.credentials.createInsecure()
      : identity === "none"
        ? grpc.credentials.createSsl(Buffer.from(ca.bundlePem))
        : grpc.credentials.createSsl(
            Buffer.from(ca.bundlePem),
            Buffer.from(identity.keyPem),
            Buffer.from(identity.certChainPem),
          );
  const client = new AdsClient(`127.0.0.1:${cp.xdsPort}`, creds);
  return new Promise((resolve) => {
    // biome-ignore lint/suspicious/noExplicitAny: generic client method.
    const call = (client as any).deltaAggregatedResources() as grpc.ClientDuplexStream<
      unknown,
      DeltaDiscoveryResponse
    >;
    let resources = 0;
    const end = () => {
      call.cancel();
      client.close();
    };
    call.on("data", (r: DeltaDiscoveryResponse) => {
      resources += r.resources.length;
      if (opts.nack) {
        // What a hostile node would do to make an app look broken: reject what it got.
        call.write({
          typeUrl: TYPE_URLS.cluster,
          responseNonce: r.nonce,
          errorDetail: { code: 3, message: "forged rejection" },
        });
        resolve({ resources, end });
      } else {
        end();
        resolve({ resources, end });
      }
    });
    call.on("error", (e: grpc.ServiceError) => {
      client.close();
      resolve({ resources, code: e.code, details: e.details, end });
    });
    call.write({
      node: { id: node.id, cluster: node.cluster, metadata: node.metadata ?? {} },
      typeUrl: TYPE_URLS.cluster,
    });
  });
}

async function statusOf(id: string) {
  const r = await cli(["apps", "get", id, "-o", "json"], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).status as {
    state: string;
    nodes_total?: number;
    nacks?: { node_id: string }[];
  };
}

beforeAll(async () => {
  ca = await CertificateAuthority.generate(TD);
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  cp = await startControlPlane({
    name: "xds-mtls",
    extraArgs: [
      `--trust-domain=${TD}`,
      `--ca-cert=${join(dir, "ca.pem")}`,
      `--ca-key=${join(dir, "ca.key")}`,
    ],
  });
  env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
  const echo = await startEcho();
  jwks = await startJwks();
  [ports.gw, ports.a, ports.b] = [await freePort(), await freePort(), await freePort()];
  for (const spec of [
    appSpec("shop", { upstream: echo.port, jwks }),
    appSpec("svca", {
      upstream: echo.port,
      jwks,
      extra: { sidecar: { service: "svc-a", inbound_port: ports.a } },
    }),
    appSpec("svcb", {
      upstream: echo.port,
      jwks,
      extra: { sidecar: { service: "svc-b", inbound_port: ports.b } },
    }),
  ]) {
    const r = await cli(["apps", "register", "-f", writeApp(spec)], env);
    expect(r.code, r.stderr).toBe(0);
  }
  const xdsId = `spiffe://${TD}/xds-server/xds`;
  const gw = writeIdentityFiles(
    dir,
    "gw-1",
    await ca.issue({ role: "gateway", name: "gw-1", ttlSeconds: 3600 }),
  );
  await startEnvoy({
    file: join(REPO_ROOT, "envoy/gateway-ads-mtls.yaml"),
    name: "gw-mtls",
    vars: {
      NODE_ID: "gw-1",
      XDS_HOST: "127.0.0.1",
      XDS_PORT: cp.xdsPort,
      LISTENER_ADDRESS: "127.0.0.1",
      LISTENER_PORT: ports.gw,
      CERT_FILE: gw.cert,
      KEY_FILE: gw.key,
      CA_FILE: gw.ca,
      XDS_SPIFFE_ID: xdsId,
    },
  });
  for (const svc of ["svc-a", "svc-b"]) {
    const f = writeIdentityFiles(dir, svc, await ca.issue({ role: "sidecar", name: svc, ttlSeconds: 3600 }));
    await startEnvoy({
      file: join(REPO_ROOT, "envoy/sidecar-ads-mtls.yaml"),
      name: `${svc}-mtls`,
      vars: {
        NODE_ID: `${svc}~0`,
        SERVICE: svc,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        OUTBOUND_PORT: 0,
        CERT_FILE: f.cert,
        KEY_FILE: f.key,
        CA_FILE: f.ca,
        XDS_SPIFFE_ID: xdsId,
      },
    });
  }
});

describe("ADS over mTLS", () => {
  it("a gateway and two sidecars get their configuration with their workload certificates", async () => {
    const auth = { authorization: `Bearer ${await jwks.sign({}, { aud: "api" })}` };
    await until(ports.gw, "/x", { host: "shop.test", ...auth }, 200);
    // The sidecars' inbound listeners now take mTLS only (test/xds/mesh.e2e.test.ts);
    // that they run their configuration shows in the delivery status.
    for (const app of ["svca", "svcb"])
      await expect.poll(async () => (await statusOf(app)).state, { timeout: budget(20_000) }).toBe("serving");
    await expect
      .poll(async () => (await statusOf("shop")).state, { timeout: budget(20_000) })
      .toBe("serving");
    expect((await statusOf("shop")).nodes_total).toBe(3);
  });

  it("a client without a certificate, with a foreign CA's or an expired one is refused and sees no resource", async () => {
    const foreign = await (await CertificateAuthority.generate(TD)).issue({
      role: "gateway",
      name: "gw-1",
      ttlSeconds: 3600,
    });
    const node = { id: "gw-1", cluster: "sessiongate-gateway" };
    for (const [what, id] of [
      ["no certificate", "none"],
      ["plaintext", "plaintext"],
      ["foreign CA", foreign],
      ["expired", await expiredFrom(ca, "gw-1")],
    ] as const) {
      const r = await attempt(id, node);
      expect(r.resources, what).toBe(0);
      expect(r.code, what).toBe(grpc.status.UNAVAILABLE);
    }
  });

  it("a node cannot claim another node's id, cluster or role (PERMISSION_DENIED, no resource)", async () => {
    const svcA = await ca.issue({ role: "sidecar", name: "svc-a", ttlSeconds: 600 });
    const gw2 = await ca.issue({ role: "gateway", name: "gw-2", ttlSeconds: 600 });
    const bff = await ca.issue({ role: "bff", name: "bff", ttlSeconds: 600 });
    const claims: [
      string,
      IssuedIdentity,
      { id: string; cluster: string; metadata?: Record<string, unknown> },
    ][] = [
      ["gateway claims another gateway's id", gw2, { id: "gw-1", cluster: "sessiongate-gateway" }],
      [
        "gateway claims the sidecar role",
        gw2,
        { id: "gw-2", cluster: "svc-a", metadata: { role: "sidecar" } },
      ],
      ["sidecar claims the gateway's id", svcA, { id: "gw-1", cluster: "svc-a" }],
      ["sidecar claims another service", svcA, { id: "svc-b~0", cluster: "svc-b" }],
      [
        "sidecar claims another service by metadata",
        svcA,
        { id: "svc-a~9", cluster: "svc-a", metadata: { service: "svc-b" } },
      ],
      [
        "sidecar claims the gateway role",
        svcA,
        { id: "svc-a~9", cluster: "svc-a", metadata: { role: "gateway" } },
      ],
      ["sidecar without an instance id", svcA, { id: "svc-a", cluster: "svc-a" }],
      ["a BFF certificate", bff, { id: "bff", cluster: "bff" }],
    ];
    for (const [what, id, node] of claims) {
      const r = await attempt(id, node);
      expect(r.resources, what).toBe(0);
      expect(r.code, what).toBe(grpc.status.PERMISSION_DENIED);
    }
    // Positive control: the same client code with a matching claim is served.
    const ok = await attempt(gw2, { id: "gw-2", cluster: "sessiongate-gateway" });
    expect(ok.resources).toBeGreaterThan(0);
  });

  it("grpc.health.v1 on the mTLS ADS port answers a client with a mesh certificate, and no one else", async () => {
    const Health = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");
    const check = (creds: grpc.ChannelCredentials) =>
      new Promise<string>((resolve) => {
        const c = new Health(`127.0.0.1:${cp.xdsPort}`, creds);
        // biome-ignore lint/suspicious/noExplicitAny: generic client method.
        (c as any).check({ service: "" }, (err: grpc.ServiceError | null, res: { status: string }) => {
          c.close();
          resolve(err ? `error ${err.code}` : res.status);
        });
      });
    const gw = await ca.issue({ role: "gateway", name: "probe", ttlSeconds: 600 });
    const ssl = (id?: IssuedIdentity) =>
      grpc.credentials.createSsl(
        Buffer.from(ca.bundlePem),
        id ? Buffer.from(id.keyPem) : null,
        id ? Buffer.from(id.certChainPem) : null,
      );
    expect(await check(ssl(gw))).toBe("SERVING");
    expect(await check(ssl())).toBe(`error ${grpc.status.UNAVAILABLE}`);
  });

  it("apps get status cannot be forged by a refused client's NACK", async () => {
    await expect
      .poll(async () => (await statusOf("svca")).state, { timeout: budget(20_000) })
      .toBe("serving");
    const svcB = await ca.issue({ role: "sidecar", name: "svc-b", ttlSeconds: 600 });
    const tries = [
      await attempt("none", { id: "svc-a~0", cluster: "svc-a" }, { nack: true }),
      await attempt(svcB, { id: "svc-a~0", cluster: "svc-a" }, { nack: true }),
      await attempt(svcB, { id: "gw-1", cluster: "sessiongate-gateway" }, { nack: true }),
    ];
    for (const t of tries) expect(t.resources).toBe(0);
    for (const app of ["shop", "svca"]) {
      const st = await statusOf(app);
      expect(st.state, app).toBe("serving");
      expect(st.nacks ?? [], app).toEqual([]);
    }
    // Control: the same NACK from an authenticated node is recorded, so the
    // check above would have seen a forged one.
    const gw3 = await ca.issue({ role: "gateway", name: "gw-3", ttlSeconds: 600 });
    const real = await attempt(gw3, { id: "gw-3", cluster: "sessiongate-gateway" }, { nack: true });
    expect(real.resources).toBeGreaterThan(0);
    await expect
      .poll(async () => (await statusOf("shop")).state, { timeout: budget(20_000) })
      .toBe("rejected");
    expect((await statusOf("shop")).nacks?.map((n) => n.node_id)).toEqual(["gw-3"]);
    real.end();
  });
});
