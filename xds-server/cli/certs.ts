// `sessiongate certs init|issue`: a local root CA for the mesh's workload
// identities, and certificates from it for static setups and Envoy bootstraps.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CertificateAuthority } from "../identity/ca.js";
import { parseDuration } from "../identity/duration.js";
import { checkName, checkRole, IdentityError } from "../identity/spiffe.js";

export const CERTS_HELP = `Usage: sessiongate certs init --dir DIR --trust-domain TD [--days N] [--force]
       sessiongate certs issue --ca-dir DIR --role ROLE --name NAME [--out DIR] [--ttl 24h]
                               [--dns NAME]... [--ip ADDR]...

Workload identities spiffe://<trust-domain>/<role>/<name> (roles: gateway,
sidecar, bff, xds-server).

  certs init    generate a root CA (ECDSA P-256): DIR/ca.pem (certificate) and
                DIR/ca.key (private key, mode 0600). Refuses to overwrite
                without --force.
  certs issue   issue a leaf certificate from the CA in --ca-dir (or --ca-cert,
                --ca-key [--ca-bundle] [--trust-domain] for an external CA):
                OUT/<role>-<name>.pem (chain), OUT/<role>-<name>.key (0600) and
                OUT/bundle.pem (the roots peers trust). OUT defaults to --ca-dir.

Options:
  --days N        root validity in days (default 3650)
  --ttl DURATION  leaf lifetime: 90s, 15m, 24h, 30d (default 24h)
  --dns, --ip     extra SANs for a server reached by host name or address
  -h, --help      show this help

Exit codes: 0 ok, 2 usage error, 3 invalid argument or unusable CA files.
`;

class CertsUsage extends Error {}

function ttlArg(v: string): number {
  const s = parseDuration(v);
  if (s === undefined)
    throw new CertsUsage(`--ttl: expected a duration like 90s, 15m, 24h or 30d, got ${JSON.stringify(v)}`);
  return s;
}

function write(path: string, text: string, mode: number, out: string[], what: string): void {
  writeFileSync(path, text, { mode });
  out.push(`wrote ${path} (${what}${mode === 0o600 ? ", mode 0600" : ""})`);
}

async function init(argv: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: "string" },
      "trust-domain": { type: "string" },
      days: { type: "string" },
      force: { type: "boolean" },
    },
  });
  if (!values.dir || !values["trust-domain"])
    throw new CertsUsage("certs init needs --dir and --trust-domain");
  const days = Number(values.days ?? 3650);
  if (!Number.isInteger(days) || days < 1 || days > 36500)
    throw new CertsUsage("--days: expected an integer 1..36500");
  const cert = join(values.dir, "ca.pem");
  const key = join(values.dir, "ca.key");
  if (!values.force && (existsSync(cert) || existsSync(key)))
    throw new CertsUsage(`${values.dir} already holds ca.pem or ca.key (use --force to replace the root)`);
  const ca = await CertificateAuthority.generate(values["trust-domain"], days);
  mkdirSync(values.dir, { recursive: true, mode: 0o700 });
  const out: string[] = [];
  write(key, ca.keyPem, 0o600, out, "root private key");
  write(
    cert,
    ca.certPem,
    0o644,
    out,
    `root certificate, spiffe://${ca.trustDomain}, valid until ${ca.notAfter.toISOString()}`,
  );
  return out;
}

async function issue(argv: string[]): Promise<string[]> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "ca-dir": { type: "string" },
      "ca-cert": { type: "string" },
      "ca-key": { type: "string" },
      "ca-bundle": { type: "string" },
      "trust-domain": { type: "string" },
      role: { type: "string" },
      name: { type: "string" },
      out: { type: "string" },
      ttl: { type: "string" },
      dns: { type: "string", multiple: true },
      ip: { type: "string", multiple: true },
    },
  });
  if (!values.role || !values.name) throw new CertsUsage("certs issue needs --role and --name");
  const caCert = values["ca-cert"] ?? (values["ca-dir"] && join(values["ca-dir"], "ca.pem"));
  const caKey = values["ca-key"] ?? (values["ca-dir"] && join(values["ca-dir"], "ca.key"));
  if (!caCert || !caKey) throw new CertsUsage("certs issue needs --ca-dir, or --ca-cert and --ca-key");
  const outDir = values.out ?? values["ca-dir"];
  if (!outDir) throw new CertsUsage("certs issue needs --out (or --ca-dir)");
  const role = checkRole(values.role);
  const name = checkName(values.name);
  const ttlSeconds = ttlArg(values.ttl ?? "24h");
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch (e) {
      throw new IdentityError(`${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const ca = await CertificateAuthority.fromPem({
    certPem: read(caCert),
    keyPem: read(caKey),
    bundlePem: values["ca-bundle"] ? read(values["ca-bundle"]) : undefined,
    trustDomain: values["trust-domain"],
  });
  const leaf = await ca.issue({ role, name, ttlSeconds, dnsNames: values.dns, ipAddresses: values.ip });
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const out: string[] = [];
  write(join(outDir, `${role}-${name}.key`), leaf.keyPem, 0o600, out, "private key");
  write(
    join(outDir, `${role}-${name}.pem`),
    leaf.certChainPem,
    0o644,
    out,
    `certificate ${leaf.spiffeId}, valid until ${leaf.notAfter.toISOString()}`,
  );
  write(join(outDir, "bundle.pem"), leaf.bundlePem, 0o644, out, "trust bundle");
  return out;
}

/** Runs `certs <cmd> ...`; prints what it wrote; returns the exit code. */
export async function runCerts(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (!cmd || cmd === "-h" || cmd === "--help" || rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(CERTS_HELP);
      return cmd ? 0 : 2;
    }
    const lines = cmd === "init" ? await init(rest) : cmd === "issue" ? await issue(rest) : undefined;
    if (!lines) throw new CertsUsage(`unknown command certs ${cmd}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (e instanceof CertsUsage || err.code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`sessiongate: ${err.message}\n(see sessiongate certs --help)\n`);
      return 2;
    }
    if (e instanceof IdentityError) {
      process.stderr.write(`sessiongate: ${err.message}\n`);
      return 3;
    }
    throw e;
  }
}
