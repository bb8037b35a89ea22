// Material written by an external CA is reloaded when its files change; a bad
// set (garbage, a key for another certificate, half a rotation) is refused and
// the previous material stays in use, with an error logged.
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, type IssuedIdentity } from "../../xds-server/identity/ca.js";
import { type Material, readMaterial } from "../../xds-server/identity/material.js";
import { WatchedFiles } from "../../xds-server/identity/watch.js";
import { waitFor } from "../harness/index.js";

let ca: CertificateAuthority;
beforeAll(async () => {
  ca = await CertificateAuthority.generate("mesh.test");
});

const logs: { level: string; msg: string; err?: string }[] = [];
const log = {
  info: (o: object, msg: string) => logs.push({ level: "info", msg, ...o }),
  error: (o: object, msg: string) => logs.push({ level: "error", msg, ...o }),
};
let watched: WatchedFiles<Material> | undefined;
afterEach(() => watched?.close());

function setup() {
  const dir = mkdtempSync(join(tmpdir(), "sg-reload-"));
  const files = {
    certFile: join(dir, "tls.crt"),
    keyFile: join(dir, "tls.key"),
    caFile: join(dir, "ca.crt"),
  };
  // Writers such as cert-manager replace files atomically: write then rename.
  const put = (f: string, text: string) => {
    writeFileSync(`${f}.tmp`, text);
    renameSync(`${f}.tmp`, f);
  };
  const install = (id: IssuedIdentity) => {
    put(files.keyFile, id.keyPem);
    put(files.certFile, id.certChainPem);
    put(files.caFile, id.bundlePem);
  };
  return { files, put, install };
}

async function start(files: { certFile: string; keyFile: string; caFile: string }) {
  watched = await WatchedFiles.start(Object.values(files), {
    load: () => readMaterial(files, { trustDomain: "mesh.test" }),
    key: (m) => m.digest,
    what: "test identity",
    log,
    debounceMs: 50,
  });
  return watched;
}

describe("material reloaded from files", () => {
  it("refuses to start on unusable files", async () => {
    const { files, put } = setup();
    put(files.certFile, "not a certificate");
    await expect(start(files)).rejects.toThrow();
  });

  it("picks up a rotated certificate by itself", async () => {
    const { files, install } = setup();
    install(await ca.issue({ role: "sidecar", name: "orders", ttlSeconds: 600 }));
    const w = await start(files);
    const first = w.current.leaf.serialNumber;
    const seen: string[] = [];
    w.onChange((m) => seen.push(m.leaf.serialNumber));
    install(await ca.issue({ role: "sidecar", name: "orders", ttlSeconds: 900 }));
    await waitFor("the rotated certificate", async () => w.current.leaf.serialNumber !== first);
    expect(seen.at(-1)).toBe(w.current.leaf.serialNumber);
    expect(w.current.id?.name).toBe("orders");
  });

  it("keeps the previous material when the new files are bad, and logs an error", async () => {
    const { files, put, install } = setup();
    const good = await ca.issue({ role: "sidecar", name: "orders", ttlSeconds: 600 });
    install(good);
    const w = await start(files);
    const before = w.current.digest;
    const other = await ca.issue({ role: "sidecar", name: "orders", ttlSeconds: 600 });
    const foreign = await (await CertificateAuthority.generate("mesh.test")).issue({
      role: "sidecar",
      name: "orders",
      ttlSeconds: 600,
    });
    const cases: [string, () => void][] = [
      [
        "garbage certificate",
        () => put(files.certFile, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
      ],
      ["key of another certificate", () => put(files.keyFile, other.keyPem)],
      [
        "certificate from a foreign CA",
        () => {
          put(files.certFile, foreign.certChainPem);
          put(files.keyFile, foreign.keyPem);
        },
      ],
    ];
    for (const [what, breakIt] of cases) {
      install(good);
      await w.reload();
      const failures = w.failures;
      breakIt();
      await waitFor(`the refusal of a ${what}`, async () => w.failures > failures);
      expect(w.current.digest, what).toBe(before);
    }
    expect(logs.filter((l) => l.level === "error").length).toBeGreaterThanOrEqual(cases.length);
    expect(logs.some((l) => l.msg.includes("keeping the previous material"))).toBe(true);
    // Repaired files are taken again.
    install(other);
    await waitFor("the repaired files", async () => w.current.digest !== before);
    expect(w.current.leaf.serialNumber).toBe(readMaterial(files).leaf.serialNumber);
  });
});
