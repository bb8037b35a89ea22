// The ADS security configuration: mTLS unless plaintext is asked for, and
// plaintext only on loopback unless forced.
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../xds-server/config.js";
import { TOKEN } from "./helpers.js";

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
