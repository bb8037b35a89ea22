// The xds-server's own workload identity and its CA. Either the CA's files are
// given (a root from `sessiongate certs init`, or an intermediate from an
// external CA) and the server issues itself a short-lived certificate,
// re-issued at two thirds of its life; or its certificate, key and bundle come
// from files an external CA keeps fresh. Both reload when their files change.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { CertificateAuthority } from "./ca.js";
import { type Material, type MaterialPem, readMaterial, validateMaterial } from "./material.js";
import { IdentityError } from "./spiffe.js";
import { WatchedFiles, type WatchLog } from "./watch.js";

export interface CaFileConfig {
  certFile: string;
  keyFile: string;
  bundleFile?: string;
}

export interface IdentityConfig {
  trustDomain: string;
  /** The CA the server signs with (its own certificate, and nodes' over SDS). */
  ca?: CaFileConfig;
  /** The server's certificate from files; without it, issued by `ca`. */
  serving?: { certFile: string; keyFile: string; caFile: string };
  /** Name in spiffe://<td>/xds-server/<name> when self-issuing. */
  serverName: string;
  certTtlSeconds: number;
  /** SANs for clients that verify the server by host name (grpc-js) rather than by SPIFFE id (Envoy). */
  dnsNames: string[];
  ipAddresses: string[];
}

function read(f: string): string {
  try {
    return readFileSync(f, "utf8");
  } catch (e) {
    throw new IdentityError(`${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export async function watchCa(
  cfg: CaFileConfig,
  trustDomain: string,
  log: WatchLog,
): Promise<WatchedFiles<CertificateAuthority>> {
  return WatchedFiles.start([cfg.certFile, cfg.keyFile, ...(cfg.bundleFile ? [cfg.bundleFile] : [])], {
    what: "CA",
    log,
    pollMs: 60_000,
    load: () =>
      CertificateAuthority.fromPem({
        certPem: read(cfg.certFile),
        keyPem: read(cfg.keyFile),
        bundlePem: cfg.bundleFile ? read(cfg.bundleFile) : undefined,
        trustDomain,
      }),
    key: (ca) =>
      createHash("sha256")
        .update(ca.certPem + ca.keyPem + ca.bundlePem)
        .digest("hex"),
  });
}

export class ServingIdentity {
  private material: Material;
  private readonly listeners = new Set<(m: MaterialPem) => void>();
  private renew?: NodeJS.Timeout;
  private closers: (() => void)[] = [];

  private constructor(
    private readonly cfg: IdentityConfig,
    private readonly log: WatchLog,
    first: Material,
    readonly ca?: WatchedFiles<CertificateAuthority>,
  ) {
    this.material = first;
  }

  static async start(cfg: IdentityConfig, log: WatchLog): Promise<ServingIdentity> {
    const ca = cfg.ca ? await watchCa(cfg.ca, cfg.trustDomain, log) : undefined;
    if (cfg.serving) {
      const files = cfg.serving;
      const w = await WatchedFiles.start([files.certFile, files.keyFile, files.caFile], {
        what: "xds-server certificate",
        log,
        pollMs: 60_000,
        load: () => readMaterial(files, { trustDomain: cfg.trustDomain }),
        key: (m) => m.digest,
      });
      const id = new ServingIdentity(cfg, log, w.current, ca);
      id.closers.push(
        w.onChange((m) => id.set(m)),
        () => w.close(),
      );
      return id;
    }
    if (!ca) throw new IdentityError("the xds-server needs its certificate files or a CA to issue one");
    const id = new ServingIdentity(cfg, log, await ServingIdentity.issue(cfg, ca.current), ca);
    // A new CA (rotation of the intermediate or of the root) re-issues at once.
    id.closers.push(ca.onChange(() => void id.reissue()));
    id.schedule();
    return id;
  }

  private static async issue(cfg: IdentityConfig, ca: CertificateAuthority): Promise<Material> {
    const leaf = await ca.issue({
      role: "xds-server",
      name: cfg.serverName,
      ttlSeconds: cfg.certTtlSeconds,
      dnsNames: cfg.dnsNames,
      ipAddresses: cfg.ipAddresses,
    });
    return validateMaterial(leaf, { trustDomain: cfg.trustDomain });
  }

  get current(): Material {
    return this.material;
  }

  onChange(cb: (m: MaterialPem) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  close(): void {
    clearTimeout(this.renew);
    for (const c of this.closers) c();
    this.ca?.close();
    this.listeners.clear();
  }

  private set(m: Material): void {
    this.material = m;
    for (const l of this.listeners) l(m);
  }

  private schedule(): void {
    clearTimeout(this.renew);
    const life = this.material.notAfter.getTime() - Date.parse(this.material.leaf.validFrom);
    const at = Date.parse(this.material.leaf.validFrom) + (life * 2) / 3;
    this.renew = setTimeout(
      () => void this.reissue(),
      Math.max(1000, Math.min(at - Date.now(), 2 ** 31 - 1)),
    );
    this.renew.unref();
  }

  private async reissue(): Promise<void> {
    if (!this.ca) return;
    try {
      this.set(await ServingIdentity.issue(this.cfg, this.ca.current));
      this.log.info({ notAfter: this.material.notAfter.toISOString() }, "xds-server certificate re-issued");
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "re-issuing the xds-server certificate failed; retrying");
    }
    this.schedule();
  }
}
