// The workload CA with real certificates: chains verified by node:crypto and
// by real TLS handshakes (the same checks Envoy and grpc-js make).

import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, createServer, type TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, type IssuedIdentity } from "../../xds-server/identity/ca.js";
import { validateMaterial } from "../../xds-server/identity/material.js";
import { IdentityError, parseSpiffeId, spiffeId, workloadIdOf } from "../../xds-server/identity/spiffe.js";

let ca: CertificateAuthority;
let foreign: CertificateAuthority;
beforeAll(async () => {
  ca = await CertificateAuthority.generate("mesh.test");
  foreign = await CertificateAuthority.generate("mesh.test");
});

describe("spiffe ids", () => {
  it("formats and parses spiffe://<trust-domain>/<role>/<name>", () => {
    const id = spiffeId({ trustDomain: "mesh.test", role: "sidecar", name: "orders" });
    expect(id).toBe("spiffe://mesh.test/sidecar/orders");
    expect(parseSpiffeId(id)).toEqual({ trustDomain: "mesh.test", role: "sidecar", name: "orders" });
  });

  it.each([
    "spiffe://mesh.test/sidecar",
    "spiffe://mesh.test/admin/x",
    "spiffe://Mesh.test/sidecar/x",
    "spiffe://mesh.test/sidecar/x/y",
    "spiffe://mesh.test/sidecar/x?y",
    "spiffe://mesh.test:443/sidecar/x",
    "spiffe://user@mesh.test/sidecar/x",
    "https://mesh.test/sidecar/x",
    "spiffe://mesh.test/sidecar/%2e%2e",
    "spiffe://mesh.test/sidecar/",
  ])("refuses %s", (uri) => {
    expect(() => parseSpiffeId(uri)).toThrow(IdentityError);
  });
});

describe("certificate authority", () => {
  let leaf: IssuedIdentity;
  beforeAll(async () => {
    leaf = await ca.issue({ role: "gateway", name: "gw-1", ttlSeconds: 3600, ipAddresses: ["127.0.0.1"] });
  });

  it("generates a self-signed CA root naming its trust domain", () => {
    const root = new X509Certificate(ca.certPem);
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.subjectAltName).toBe("URI:spiffe://mesh.test");
  });

  it("issues a short-lived leaf with exactly one SPIFFE URI SAN, signed by the root", () => {
    const cert = new X509Certificate(leaf.certChainPem);
    const root = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(root)).toBe(true);
    expect(cert.verify(root.publicKey)).toBe(true);
    expect(cert.verify(new X509Certificate(foreign.certPem).publicKey)).toBe(false);
    expect(workloadIdOf(cert.subjectAltName, "mesh.test")).toEqual({
      trustDomain: "mesh.test",
      role: "gateway",
      name: "gw-1",
    });
    expect(() => workloadIdOf(cert.subjectAltName, "other.test")).toThrow(/trust domain/);
    const life = Date.parse(cert.validTo) - Date.now();
    expect(life).toBeGreaterThan(3500_000);
    expect(life).toBeLessThanOrEqual(3600_000);
    expect(cert.keyUsage).toEqual(expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]));
  });

  it("refuses bad issue requests", async () => {
    await expect(ca.issue({ role: "admin" as "gateway", name: "x", ttlSeconds: 3600 })).rejects.toThrow(
      /role/,
    );
    await expect(ca.issue({ role: "sidecar", name: "../x", ttlSeconds: 3600 })).rejects.toThrow(/name/);
    await expect(ca.issue({ role: "sidecar", name: "x", ttlSeconds: 1 })).rejects.toThrow(/ttl/);
  });

  it("round-trips through PEM files and keeps issuing verifiable certificates", async () => {
    const again = await CertificateAuthority.fromPem({ certPem: ca.certPem, keyPem: ca.keyPem });
    expect(again.trustDomain).toBe("mesh.test");
    const l = await again.issue({ role: "sidecar", name: "orders", ttlSeconds: 600 });
    expect(validateMaterial(l, { trustDomain: "mesh.test" }).id?.name).toBe("orders");
  });

  it("refuses a CA key that does not match, a leaf used as a CA, and a conflicting trust domain", async () => {
    await expect(
      CertificateAuthority.fromPem({ certPem: ca.certPem, keyPem: foreign.keyPem }),
    ).rejects.toThrow(/does not match/);
    await expect(
      CertificateAuthority.fromPem({ certPem: leaf.certChainPem, keyPem: leaf.keyPem }),
    ).rejects.toThrow(/CA is not set/);
    await expect(
      CertificateAuthority.fromPem({ certPem: ca.certPem, keyPem: ca.keyPem, trustDomain: "other.test" }),
    ).rejects.toThrow(/trust domain/);
  });

  it("signs with an external CA's RSA intermediate (openssl), chaining leaf → intermediate → root", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-extca-"));
    const ssl = (...a: string[]) => execFileSync("openssl", a, { cwd: dir, stdio: "pipe" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "root.key",
      "-out",
      "root.pem",
      "-days",
      "2",
      "-subj",
      "/CN=ext-root",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "int.key",
      "-out",
      "int.csr",
      "-subj",
      "/CN=ext-int",
    );
    writeFileSync(
      join(dir, "int.ext"),
      "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectAltName=URI:spiffe://ext.test\n",
    );
    ssl(
      "x509",
      "-req",
      "-in",
      "int.csr",
      "-CA",
      "root.pem",
      "-CAkey",
      "root.key",
      "-CAcreateserial",
      "-out",
      "int.pem",
      "-days",
      "1",
      "-extfile",
      "int.ext",
    );
    const f = (n: string) => readFileSync(join(dir, n), "utf8");
    await expect(
      CertificateAuthority.fromPem({ certPem: f("int.pem"), keyPem: f("int.key") }),
    ).rejects.toThrow(/not self-signed/);
    const ext = await CertificateAuthority.fromPem({
      certPem: f("int.pem"),
      keyPem: f("int.key"),
      bundlePem: f("root.pem"),
    });
    expect(ext.trustDomain).toBe("ext.test");
    const l = await ext.issue({ role: "bff", name: "bff-0", ttlSeconds: 600 });
    const m = validateMaterial(l, { trustDomain: "ext.test" });
    expect(m.id).toEqual({ trustDomain: "ext.test", role: "bff", name: "bff-0" });
    // openssl agrees the chain is complete and anchored in the external root.
    writeFileSync(join(dir, "leaf.pem"), l.certChainPem);
    expect(ssl("verify", "-CAfile", "root.pem", "-untrusted", "int.pem", "leaf.pem").toString()).toContain(
      "OK",
    );
  });
});

describe("material validation", () => {
  it("refuses a key from another certificate, a foreign bundle and an expired certificate", async () => {
    const a = await ca.issue({ role: "sidecar", name: "a", ttlSeconds: 600 });
    const b = await ca.issue({ role: "sidecar", name: "b", ttlSeconds: 600 });
    expect(() => validateMaterial({ ...a, keyPem: b.keyPem })).toThrow(/does not match/);
    expect(() => validateMaterial({ ...a, bundlePem: foreign.bundlePem })).toThrow(/does not chain/);
    expect(() => validateMaterial(a, { now: Date.now() + 3600_000 })).toThrow(/expired/);
    expect(() => validateMaterial({ ...a, certChainPem: "garbage" })).toThrow(/no PEM/);
  });
});

describe("TLS handshakes with issued certificates", () => {
  let server: ReturnType<typeof createServer>;
  let port: number;
  const peers: string[] = [];
  beforeAll(async () => {
    const srv = await ca.issue({
      role: "xds-server",
      name: "xds",
      ttlSeconds: 600,
      ipAddresses: ["127.0.0.1"],
    });
    server = createServer(
      {
        cert: srv.certChainPem,
        key: srv.keyPem,
        ca: srv.bundlePem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => {
        peers.push(s.getPeerCertificate().subjectaltname ?? "");
        s.end("hello");
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const dial = (id: { certChainPem: string; keyPem: string } | undefined) =>
    new Promise<string>((resolve, reject) => {
      const s: TLSSocket = connect({
        host: "127.0.0.1",
        port,
        ca: ca.bundlePem,
        ...(id ? { cert: id.certChainPem, key: id.keyPem } : {}),
      });
      let data = "";
      s.on("data", (d) => (data += d));
      s.on("end", () => resolve(data));
      s.on("error", reject);
    });

  it("a client with a certificate from the mesh CA is accepted; the server sees its SPIFFE id", async () => {
    const gw = await ca.issue({ role: "gateway", name: "gw-1", ttlSeconds: 600 });
    await expect(dial(gw)).resolves.toBe("hello");
    expect(peers.at(-1)).toBe("URI:spiffe://mesh.test/gateway/gw-1");
  });

  it("mTLS refuses a client without a certificate and one from a foreign CA", async () => {
    // Under TLS 1.3 the client may see the server's alert as a plain close:
    // either way it gets no byte from the application.
    const refused = (p: Promise<string>) => p.catch(() => "refused");
    expect(await refused(dial(undefined))).not.toBe("hello");
    const f = await foreign.issue({ role: "gateway", name: "gw-1", ttlSeconds: 600 });
    expect(await refused(dial(f))).not.toBe("hello");
    expect(peers).toHaveLength(1);
  });
});
