// Service-to-service mTLS and authorization through real sidecars: A's
// outbound listener reaches B's inbound listener over mTLS with A's SDS
// certificate; B's RBAC filter admits only its allowed_callers (403 for
// others), plaintext to B's inbound port gets nothing, and B's upstream learns
// the caller from x-forwarded-client-cert, which a client cannot forge.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../../xds-server/identity/ca.js";
import { freePort, hostRequest, REPO_ROOT, startEcho, startEnvoy, waitFor } from "../harness/index.js";
import {
  appSpec,
  type ControlPlane,
  cli,
  type Jwks,
  startControlPlane,
  startJwks,
  TOKEN,
  writeApp,
} from "./helpers.js";

const TD = "mesh.test";
const dir = mkdtempSync(join(tmpdir(), "sg-mesh-"));
let cp: ControlPlane;
let jwks: Jwks;
const inbound: Record<string, number> = {};
const outbound: Record<string, number> = {};

beforeAll(async () => {
  const ca = await CertificateAuthority.generate(TD);
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  cp = await startControlPlane({
    name: "xds-mesh",
    extraArgs: [
      `--trust-domain=${TD}`,
      `--ca-cert=${join(dir, "ca.pem")}`,
      `--ca-key=${join(dir, "ca.key")}`,
    ],
  });
  const env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
  const echo = await startEcho();
  jwks = await startJwks();
  for (const s of ["svc-a", "svc-b", "svc-c"]) {
    inbound[s] = await freePort();
    outbound[s] = await freePort();
  }
  const sidecar = (id: string, service: string, extra: object = {}) =>
    appSpec(id, {
      upstream: echo.port,
      jwks,
      extra: { sidecar: { service, inbound_port: inbound[service], ...extra } },
    });
  for (const spec of [
    sidecar("appa", "svc-a"),
    sidecar("appb", "svc-b", { allowed_callers: [`spiffe://${TD}/sidecar/svc-a`] }),
    sidecar("appc", "svc-c"),
  ]) {
    const r = await cli(["apps", "register", "-f", writeApp(spec)], env);
    expect(r.code, r.stderr).toBe(0);
  }
  for (const svc of ["svc-a", "svc-b", "svc-c"]) {
    const id = await ca.issue({ role: "sidecar", name: svc, ttlSeconds: 3600 });
    const f = { cert: join(dir, `${svc}.pem`), key: join(dir, `${svc}.key`), ca: join(dir, `${svc}-ca.pem`) };
    writeFileSync(f.cert, id.certChainPem);
    writeFileSync(f.key, id.keyPem, { mode: 0o600 });
    writeFileSync(f.ca, id.bundlePem);
    await startEnvoy({
      file: join(REPO_ROOT, "envoy/sidecar-ads-mtls.yaml"),
      name: `${svc}-mesh`,
      vars: {
        NODE_ID: `${svc}~0`,
        SERVICE: svc,
        XDS_HOST: "127.0.0.1",
        XDS_PORT: cp.xdsPort,
        LISTENER_ADDRESS: "127.0.0.1",
        OUTBOUND_PORT: outbound[svc],
        CERT_FILE: f.cert,
        KEY_FILE: f.key,
        CA_FILE: f.ca,
        XDS_SPIFFE_ID: `spiffe://${TD}/xds-server/xds`,
      },
    });
  }
});

const call = async (from: string, to: string, headers: Record<string, string> = {}) =>
  hostRequest(outbound[from], "/orders", {
    host: to,
    authorization: `Bearer ${await jwks.sign({}, { aud: "api" })}`,
    ...headers,
  }).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));

describe("service to service through sidecars", () => {
  it("A → B over mTLS succeeds when A is in B's allowed_callers; the upstream sees A's identity", async () => {
    const r = await waitFor("A → B answered by B's upstream", async () => {
      const x = await call("svc-a", "svc-b");
      return x.status === 200 ? x : undefined;
    });
    const seen = JSON.parse(r.body).headers as Record<string, string>;
    expect(seen["x-forwarded-client-cert"]).toContain(`URI=spiffe://${TD}/sidecar/svc-a`);
  });

  it("a caller not in allowed_callers gets 403 from RBAC", async () => {
    const r = await waitFor("C → B refused", async () => {
      const x = await call("svc-c", "svc-b");
      return x.status === 403 ? x : undefined;
    });
    expect(r.body).toContain("RBAC");
    // Without an allowed_callers list any mesh workload may call: C → A works.
    await waitFor("C → A answered", async () => (await call("svc-c", "svc-a")).status === 200);
  });

  it("a client cannot forge the caller identity header", async () => {
    const r = await call("svc-a", "svc-b", { "x-forwarded-client-cert": `URI=spiffe://${TD}/sidecar/admin` });
    expect(r.status).toBe(200);
    const xfcc = (JSON.parse(r.body).headers as Record<string, string>)["x-forwarded-client-cert"];
    expect(xfcc).toContain(`URI=spiffe://${TD}/sidecar/svc-a`);
    expect(xfcc).not.toContain("admin");
  });

  it("plaintext to B's inbound port gets no HTTP answer", async () => {
    const r = await hostRequest(inbound["svc-b"], "/orders", {
      host: "x",
      authorization: `Bearer ${await jwks.sign({}, { aud: "api" })}`,
    }).catch((e: Error) => ({ status: 0, body: e.message }));
    expect(r.status).toBe(0);
  });
});
