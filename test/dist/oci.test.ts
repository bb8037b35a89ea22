// The filter as an OCI artifact: `npm run release` writes the wasm, its sha256
// and an OCI image layout (oras), pushes it to a real CNCF distribution registry
// on loopback, and a standard client (oras) and the registry's own HTTP API give
// back the module with the same sha256, under the Wasm OCI artifact media types
// that Istio's WasmPlugin and Envoy Gateway's EnvoyExtensionPolicy pull.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, freePort, REPO_ROOT, startProcess } from "../harness/index.js";
import { run, sha256File } from "./exec.js";

const TOOLS = join(REPO_ROOT, ".tools/bin");
const ORAS = join(TOOLS, "oras");
const CONFIG_TYPE = "application/vnd.module.wasm.config.v1+json";
const LAYER_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm";

let work: string;
let registry: string; // host:port
let out: string;
let release: {
  tag: string;
  wasm: { sha256: string; size: number };
  oci: { manifestDigest: string; layerDigest: string };
};
const repo = () => `${registry}/sessiongate/session-to-token`;

beforeAll(async () => {
  // Pinned builds from the Go module proxy, reused once built (bash .ci/run builds them first).
  const tools = await run("bash", [join(REPO_ROOT, "scripts/go-tools.sh"), "oras", "registry"], {
    progress: true,
  });
  expect(tools.code, `scripts/go-tools.sh failed: ${tools.stderr}${tools.stdout}`).toBe(0);

  work = mkdtempSync(join(tmpdir(), "sg-dist-oci-"));
  const port = await freePort();
  registry = `127.0.0.1:${port}`;
  const config = join(work, "registry.yml");
  writeFileSync(
    config,
    `version: 0.1
log: { level: warn }
storage:
  filesystem: { rootdirectory: ${join(work, "storage")} }
http:
  addr: 127.0.0.1:${port}
`,
  );
  await startProcess({
    name: "oci-registry",
    cmd: join(TOOLS, "registry"),
    args: ["serve", config],
    ready: { url: `http://${registry}/v2/` },
  });

  out = join(work, "release");
  process.stderr.write("dist: npm run release (writes the OCI layout, pushes it)\n");
  const r = await run(
    "npm",
    // --no-build: npm test has built the filter, and other test files read build/ meanwhile.
    [
      "run",
      "--silent",
      "release",
      "--",
      "--no-build",
      "--out",
      out,
      "--push",
      `${repo()}:0.1.0`,
      "--plain-http",
    ],
    { cwd: REPO_ROOT, progress: true },
  );
  expect(r.code, r.stderr).toBe(0);
  release = JSON.parse(readFileSync(join(out, "release.json"), "utf8"));
}, budget(900_000));

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("npm run release", () => {
  it("writes the wasm the build makes and its sha256 in sha256sum format", async () => {
    const built = sha256File(join(REPO_ROOT, "build/session-to-token.wasm"));
    expect(sha256File(join(out, "session-to-token.wasm"))).toBe(built);
    expect(readFileSync(join(out, "session-to-token.wasm.sha256"), "utf8")).toBe(
      `${built}  session-to-token.wasm\n`,
    );
    const check = await run("sha256sum", ["-c", "session-to-token.wasm.sha256"], { cwd: out });
    expect(check.code, check.stderr).toBe(0);
    expect(release.wasm.sha256).toBe(built);
  });

  it("writes an OCI image layout whose single layer is the module (Wasm OCI artifact media types)", () => {
    const layout = join(out, "oci");
    expect(JSON.parse(readFileSync(join(layout, "oci-layout"), "utf8")).imageLayoutVersion).toBe("1.0.0");
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    const desc = index.manifests.find(
      (m: { annotations?: Record<string, string> }) =>
        m.annotations?.["org.opencontainers.image.ref.name"] === release.tag,
    );
    expect(desc.digest).toBe(release.oci.manifestDigest);
    const blob = (d: string) => readFileSync(join(layout, "blobs", ...d.split(":")));
    const manifestBytes = blob(desc.digest);
    expect(`sha256:${createHash("sha256").update(manifestBytes).digest("hex")}`).toBe(desc.digest);
    const manifest = JSON.parse(manifestBytes.toString());
    expect(manifest.config.mediaType).toBe(CONFIG_TYPE);
    expect(manifest.layers).toHaveLength(1);
    expect(manifest.layers[0].mediaType).toBe(LAYER_TYPE);
    expect(manifest.layers[0].digest).toBe(`sha256:${release.wasm.sha256}`);
    expect(existsSync(join(layout, "blobs", "sha256", release.wasm.sha256))).toBe(true);
  });
});

describe("the artifact in a real OCI registry", () => {
  it("oras pulls back, by tag and by manifest digest, the module with the wasm's sha256", async () => {
    for (const ref of [`${repo()}:0.1.0`, `${repo()}@${release.oci.manifestDigest}`]) {
      const dir = mkdtempSync(join(work, "pull-"));
      const pulled = await run(ORAS, ["pull", "--plain-http", "--no-tty", "-o", dir, ref]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(sha256File(join(dir, "plugin.wasm"))).toBe(release.wasm.sha256);
    }
  });

  it("oras fetches the manifest: wasm config and content-layer media types, layer digest = wasm sha256", async () => {
    const r = await run(ORAS, ["manifest", "fetch", "--plain-http", `${repo()}:0.1.0`]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(r.stdout);
    expect(manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(manifest.config.mediaType).toBe(CONFIG_TYPE);
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([LAYER_TYPE]);
    expect(manifest.layers[0].digest).toBe(`sha256:${release.wasm.sha256}`);
    expect(manifest.layers[0].size).toBe(release.wasm.size);
  });

  it("the registry's own API serves the same manifest digest and the module as a blob", async () => {
    const m = await fetch(`http://${repo().replace(registry, `${registry}/v2`)}/manifests/0.1.0`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(m.status).toBe(200);
    expect(m.headers.get("docker-content-digest")).toBe(release.oci.manifestDigest);
    await m.arrayBuffer();
    const b = await fetch(
      `http://${repo().replace(registry, `${registry}/v2`)}/blobs/sha256:${release.wasm.sha256}`,
    );
    expect(b.status).toBe(200);
    const bytes = Buffer.from(await b.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(release.wasm.sha256);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d])); // "\0asm"
  });
});
