// The ADS security configuration: mTLS unless plaintext is asked for, and
// plaintext only on loopback unless forced.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../xds-server/config.js";
import { RegistryError } from "../../xds-server/registry/types.js";
import { type RawAppSpec, validateApp } from "../../xds-server/registry/validate.js";
import { baseSpec, TOKEN } from "./helpers.js";

const parse = (args: string[]) => {
  const c = parseConfig(["--api-token", TOKEN, ...args], {});
  if (c === "help") throw new Error("help");
  return c;
};
const refusal = (args: string[]) => {
  try {
    parse(args);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${args.join(" ")}`);
};

describe("ADS transport security configuration", () => {
  it("refuses to start without mTLS material unless plaintext is asked for", () => {
    expect(refusal([])).toMatch(/mTLS.*--xds-insecure/);
    expect(refusal(["--ca-cert", "ca.pem", "--ca-key", "ca.key"])).toMatch(/--trust-domain is required/);
    expect(refusal(["--ca-cert", "ca.pem"])).toMatch(/go together/);
    expect(refusal(["--xds-tls-cert", "a.pem", "--trust-domain", "m.test"])).toMatch(/go together/);
    expect(refusal(["--ca-cert", "c", "--ca-key", "k", "--trust-domain", "Bad!"])).toMatch(/trust domain/);
  });

  it("allows plaintext ADS on loopback only, unless forced with --xds-insecure-remote", () => {
    expect(parse(["--xds-insecure"]).xdsInsecure).toBe(true);
    expect(refusal(["--xds-insecure", "--xds-address", "0.0.0.0"])).toMatch(/loopback only/);
    expect(parse(["--xds-insecure", "--xds-address", "0.0.0.0", "--xds-insecure-remote"]).xdsInsecure).toBe(
      true,
    );
    expect(parseConfig(["--api-token", TOKEN], { SESSIONGATE_XDS_INSECURE: "true" }) !== "help").toBe(true);
    expect(refusal(["--xds-insecure", "--ca-cert", "c", "--ca-key", "k"])).toMatch(/contradicts/);
  });

  it("builds the identity configuration for mTLS ADS", () => {
    const c = parse([
      "--trust-domain",
      "mesh.test",
      "--ca-cert",
      "ca.pem",
      "--ca-key",
      "ca.key",
      "--xds-address",
      "10.1.2.3",
      "--xds-cert-ttl",
      "2h",
    ]);
    expect(c.xdsInsecure).toBe(false);
    expect(c.identity).toMatchObject({
      trustDomain: "mesh.test",
      ca: { certFile: "ca.pem", keyFile: "ca.key" },
      serverName: "xds",
      certTtlSeconds: 7200,
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1", "10.1.2.3"],
    });
  });
});

describe("sidecar.allowed_callers", () => {
  const spec = (allowedCallers: string[]) =>
    ({ ...baseSpec("svc"), sidecar: { service: "svc", inboundPort: 15001, allowedCallers } }) as RawAppSpec;
  const refused = (callers: string[]) => {
    try {
      validateApp(spec(callers));
    } catch (e) {
      expect(e).toBeInstanceOf(RegistryError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${callers.join(",")}`);
  };

  it("takes workload ids and refuses anything else, naming the entry", () => {
    const ok = validateApp(spec(["spiffe://mesh.test/sidecar/orders", "spiffe://mesh.test/gateway/gw-1"]));
    expect(ok.spec.sidecar?.allowedCallers).toEqual([
      "spiffe://mesh.test/sidecar/orders",
      "spiffe://mesh.test/gateway/gw-1",
    ]);
    expect(validateApp(spec([])).spec.sidecar?.allowedCallers).toBeUndefined();
    expect(refused(["orders"])).toMatch(/^sidecar\.allowed_callers\[0\]: not a workload id/);
    expect(refused(["spiffe://mesh.test/sidecar/a", "spiffe://mesh.test/admin/x"])).toMatch(
      /^sidecar\.allowed_callers\[1\]: role/,
    );
    expect(refused(["spiffe://mesh.test/sidecar/a", "spiffe://mesh.test/sidecar/a"])).toMatch(/duplicate/);
    expect(refused(Array.from({ length: 65 }, (_, i) => `spiffe://mesh.test/sidecar/s${i}`))).toMatch(
      /at most 64/,
    );
  });
});
