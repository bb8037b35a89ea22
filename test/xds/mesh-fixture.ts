// A small mesh for the sidecar tests: an mTLS control plane with its own CA,
// an echo upstream, and one sidecar Envoy per service (mTLS ADS bootstrap,
// inbound + outbound ports), each service with one app.
import { X509Certificate } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { CertificateAuthority } from "../../xds-server/identity/ca.js";
import {
  type EnvoyHandle,
  freePort,
  hostRequest,
  REPO_ROOT,
  startEcho,
  startEnvoy,
} from "../harness/index.js";
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
import { writeIdentityFiles } from "./identity-files.js";

export const TD = "mesh.test";

export interface Mesh {
  cp: ControlPlane;
  jwks: Jwks;
  inbound: Record<string, number>;
  outbound: Record<string, number>;
  envoys: Record<string, EnvoyHandle>;
  /** Serial of each sidecar's bootstrap (ADS) certificate, as Envoy's /certs prints it. */
  bootstrapSerial: Record<string, string>;
  /** GET through `from`'s outbound listener to service `to` with a valid JWT. */
  call(from: string, to: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
}

export async function startMesh(
  services: { name: string; allowedCallers?: string[] }[],
  extraArgs: string[] = [],
): Promise<Mesh> {
  const dir = mkdtempSync(join(tmpdir(), "sg-mesh-"));
  const ca = await CertificateAuthority.generate(TD);
  writeFileSync(join(dir, "ca.pem"), ca.certPem);
  writeFileSync(join(dir, "ca.key"), ca.keyPem, { mode: 0o600 });
  const cp = await startControlPlane({
    name: "xds-mesh",
    extraArgs: [
      `--trust-domain=${TD}`,
      `--ca-cert=${join(dir, "ca.pem")}`,
      `--ca-key=${join(dir, "ca.key")}`,
      ...extraArgs,
    ],
  });
  const env = { SESSIONGATE_SERVER: cp.api, SESSIONGATE_TOKEN: TOKEN };
  const echo = await startEcho();
  const jwks = await startJwks();
  const inbound: Record<string, number> = {};
  const outbound: Record<string, number> = {};
  const envoys: Record<string, EnvoyHandle> = {};
  const bootstrapSerial: Record<string, string> = {};
  for (const s of services) {
    inbound[s.name] = await freePort();
    outbound[s.name] = await freePort();
    const spec = appSpec(`app-${s.name}`, {
      upstream: echo.port,
      jwks,
      extra: {
        sidecar: {
          service: s.name,
          inbound_port: inbound[s.name],
          ...(s.allowedCallers ? { allowed_callers: s.allowedCallers } : {}),
        },
      },
    });
    const r = await cli(["apps", "register", "-f", writeApp(spec)], env);
    expect(r.code, r.stderr).toBe(0);
  }
  for (const { name: svc } of services) {
    // Only the bootstrap's ADS connection uses this certificate; the sidecar's
    // own listeners and clusters get theirs over SDS.
    const id = await ca.issue({ role: "sidecar", name: svc, ttlSeconds: 3600 });
    bootstrapSerial[svc] = normalSerial(new X509Certificate(id.certChainPem).serialNumber);
    const f = writeIdentityFiles(dir, svc, id);
    envoys[svc] = await startEnvoy({
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
  return {
    cp,
    jwks,
    inbound,
    outbound,
    envoys,
    bootstrapSerial,
    call: async (from, to, headers = {}) =>
      hostRequest(outbound[from], "/orders", {
        host: to,
        authorization: `Bearer ${await jwks.sign({}, { aud: "api" })}`,
        ...headers,
      }).catch((e: Error) => ({ status: 0, body: e.message })),
  };
}

const normalSerial = (s: string) => s.toLowerCase().replace(/^0+/, "");

/** Serial numbers of the certificates an Envoy currently holds (admin /certs). */
export async function heldSerials(envoy: EnvoyHandle): Promise<string[]> {
  const r = (await (await fetch(`${envoy.adminUrl}/certs`)).json()) as {
    certificates?: { cert_chain?: { serial_number: string }[] }[];
  };
  return (r.certificates ?? [])
    .flatMap((c) => (c.cert_chain ?? []).map((x) => normalSerial(x.serial_number)))
    .sort();
}
