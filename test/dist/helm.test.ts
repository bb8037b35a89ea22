// The Helm chart (deploy/helm/sessiongate), rendered by the real helm for the
// default and the production values: `helm lint --strict`, every object valid
// against Kubernetes' schemas (and the ServiceMonitor CRD's) with no unknown
// field, and what the objects say checked against the programs they run: the
// gateway bootstrap through `envoy --mode validate`, the BFF configuration through
// `sessiongate bff --check`, the xds-server arguments through its own parser.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { parseConfig } from "../../xds-server/config.js";
import { envoyBin, REPO_ROOT, runCli } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { run } from "./exec.js";
import { type K8sObject, schemaErrors, unknownFieldErrors } from "./k8s-schema.js";

const HELM = join(REPO_ROOT, ".tools/bin/helm");
const CHART = join(REPO_ROOT, "deploy/helm/sessiongate");
const VALUES = {
  default: join(CHART, "values.yaml"),
  production: join(CHART, "values-production.yaml"),
};

let work: string;
const rendered: Record<string, K8sObject[]> = {};

async function template(args: string[]) {
  return run(HELM, ["template", "sg", CHART, "--namespace", "web", ...args]);
}

beforeAll(async () => {
  const tools = await run("bash", [join(REPO_ROOT, "scripts/go-tools.sh"), "helm"], { progress: true });
  expect(tools.code, `scripts/go-tools.sh helm failed: ${tools.stderr}${tools.stdout}`).toBe(0);
  work = mkdtempSync(join(tmpdir(), "sg-dist-helm-"));
  for (const [name, file] of Object.entries(VALUES)) {
    const r = await template(["-f", file]);
    expect(r.code, r.stderr).toBe(0);
    rendered[name] = YAML.parseAllDocuments(r.stdout)
      .map((d) => d.toJS() as K8sObject)
      .filter(Boolean);
  }
}, budget(900_000));

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const find = (name: string, kind: string, component: string) => {
  const o = rendered[name].find(
    (x) => x.kind === kind && x.metadata.name === `sg-sessiongate${component ? `-${component}` : ""}`,
  );
  if (!o) throw new Error(`${name}: no ${kind} sg-sessiongate-${component}`);
  // biome-ignore lint/suspicious/noExplicitAny: rendered objects are read field by field, checked by the schema test
  return o as K8sObject & { spec: Record<string, any>; data?: Record<string, string> };
};
const container = (name: string, component: string) =>
  find(name, "Deployment", component).spec.template.spec.containers[0];

describe.each(Object.keys(VALUES))("helm chart, %s values", (name) => {
  it("passes helm lint --strict", async () => {
    const r = await run(HELM, ["lint", "--strict", CHART, "-f", VALUES[name as keyof typeof VALUES]]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("0 chart(s) failed");
  });

  it("renders only objects valid against the Kubernetes and ServiceMonitor CRD schemas, with no unknown field", async () => {
    const objects = rendered[name];
    expect(objects.length).toBeGreaterThan(5);
    expect(await schemaErrors(objects)).toEqual([]);
    expect(unknownFieldErrors(objects, name)).toEqual([]);
  });

  it("runs the xds-server, the BFF and the gateway, with probes on /healthz and /readyz", () => {
    const kinds = rendered[name].map((o) => `${o.kind}/${o.metadata.name}`);
    for (const c of ["xds-server", "bff", "gateway"]) {
      expect(kinds).toContain(`Deployment/sg-sessiongate-${c}`);
      expect(kinds).toContain(`Service/sg-sessiongate-${c}`);
    }
    expect(kinds).toContain("ConfigMap/sg-sessiongate-gateway-bootstrap");
    for (const c of ["xds-server", "bff"]) {
      const ctr = container(name, c);
      expect(ctr.args[0]).toBe(c);
      expect(ctr.readinessProbe.httpGet.path).toBe("/readyz");
      expect(ctr.livenessProbe.httpGet.path).toBe("/healthz");
      // The BFF's probes on its admin listener, not on the port serving the filter its tokens.
      if (c === "bff") {
        expect(ctr.readinessProbe.httpGet.port).toBe("admin");
        expect(ctr.livenessProbe.httpGet.port).toBe("admin");
        expect(ctr.ports.find((p: { name: string }) => p.name === "admin").containerPort).toBe(8082);
      }
      expect(ctr.securityContext.allowPrivilegeEscalation).toBe(false);
      const pod = find(name, "Deployment", c).spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
    }
  });

  it("gives the gateway a bootstrap Envoy accepts (envoy --mode validate), pointing at the xds-server", async () => {
    const cm = find(name, "ConfigMap", "gateway-bootstrap");
    const bootstrap = cm.data?.["envoy.yaml"] ?? "";
    const parsed = YAML.parse(bootstrap);
    const addr =
      parsed.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address
        .socket_address;
    expect(addr).toEqual({ address: "sg-sessiongate-xds-server", port_value: 18000 });
    expect(parsed.node.metadata.role).toBe("gateway");
    const file = join(work, `envoy-${name}.yaml`);
    writeFileSync(file, bootstrap);
    const v = await run(envoyBin(), ["--mode", "validate", "-c", file, "--log-level", "error"]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain("OK");
  });

  it("passes the xds-server arguments its own parser accepts, secrets from files and Secrets", () => {
    const ctr = container(name, "xds-server");
    const files = join(work, `xds-${name}`);
    const args: string[] = ctr.args
      .slice(1)
      .map((a: string) => a.replace("/var/run/sessiongate/xds/", `${files}-`));
    writeFileSync(`${files}-api-token`, "api-token-0123456789abcdef\n");
    writeFileSync(`${files}-bff-token`, "bff-token-0123456789abcdef\n");
    writeFileSync(`${files}-secret-keys`, `k1:${Buffer.alloc(32, 1).toString("base64")}\n`);
    const cfg = parseConfig(args, { SESSIONGATE_REDIS_URL: "redis://redis:6379/0" });
    if (cfg === "help") throw new Error("parsed as --help");
    expect(cfg.xds.address).toBe("0.0.0.0");
    expect(cfg.wasmFetchHost).toBe("sg-sessiongate-xds-server");
    expect(cfg.bff.internalAddr).toEqual({ host: "sg-sessiongate-bff", port: 8081 });
    const env = Object.fromEntries(
      ctr.env.map((e: { name: string; valueFrom: { secretKeyRef: unknown } }) => [
        e.name,
        e.valueFrom.secretKeyRef,
      ]),
    );
    expect(Object.keys(env).sort()).toEqual(["SESSIONGATE_BFF_INTERNAL_KEY", "SESSIONGATE_REDIS_URL"]);
    // no secret value on a command line or in a plain env value
    expect(JSON.stringify(ctr)).not.toMatch(/--(api|bff)-token=|--secret-keys=|"value":/);
  });
});

describe("helm chart, default values", () => {
  it("generates the secrets once: the BFF's internal key and registry token are the xds-server's", async () => {
    const xds = find("default", "Secret", "xds").stringData as unknown as Record<string, string>;
    const bffYaml = (find("default", "Secret", "bff").stringData as unknown as Record<string, string>)[
      "bff.yaml"
    ];
    const bff = YAML.parse(bffYaml);
    expect(bff.internal.key).toBe(xds["bff-internal-key"]);
    expect(bff.admin).toEqual({ listen: "0.0.0.0:8082" });
    expect(bff.internal.key.length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(bff.keys.keys.k1, "base64")).toHaveLength(32);
    expect(xds["api-token"]).not.toBe(xds["bff-token"]);
    // the generated configuration is one the BFF accepts (the mounted token file replaced)
    writeFileSync(join(work, "bff-token"), xds["bff-token"]);
    bff.registry.token_file = join(work, "bff-token");
    const file = join(work, "bff.yaml");
    writeFileSync(file, YAML.stringify(bff));
    const check = await runCli(["bff", "--config", file, "--check"]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain("config ok");
  });
});

describe("helm chart, production values", () => {
  it("uses existing Secrets, several replicas, NetworkPolicies, PDBs and ServiceMonitors", () => {
    const objs = rendered.production;
    expect(objs.filter((o) => o.kind === "Secret")).toEqual([]);
    expect(find("production", "Deployment", "xds-server").spec.replicas).toBeGreaterThan(1);
    expect(find("production", "Deployment", "bff").spec.replicas).toBeGreaterThan(1);
    const bffVolumes = find("production", "Deployment", "bff").spec.template.spec.volumes;
    expect(bffVolumes.find((v: { name: string }) => v.name === "config").secret.secretName).toBe(
      "sessiongate-bff",
    );
    const monitors = objs.filter((o) => o.kind === "ServiceMonitor").map((o) => o.metadata.name);
    expect(monitors.sort()).toEqual(["sg-sessiongate-bff", "sg-sessiongate-xds-server"]);
    // Prometheus scrapes the BFF's admin port (/metrics is served nowhere else).
    expect(find("production", "ServiceMonitor", "bff").spec.endpoints[0].port).toBe("http-admin");
    expect(objs.filter((o) => o.kind === "NetworkPolicy")).toHaveLength(2);
    expect(objs.filter((o) => o.kind === "PodDisruptionBudget")).toHaveLength(3);
    // only gateway pods reach the BFF (its internal port: invariant 7)
    const np = find("production", "NetworkPolicy", "bff");
    // scrapers reach the admin port only, never the internal one
    expect(np.spec.ingress[1].ports).toEqual([{ port: "admin", protocol: "TCP" }]);
    expect(np.spec.ingress[0].from).toEqual([
      {
        podSelector: {
          matchLabels: {
            "app.kubernetes.io/name": "sessiongate",
            "app.kubernetes.io/instance": "sg",
            "app.kubernetes.io/component": "gateway",
          },
        },
      },
    ]);
  });
});

describe("helm chart, refused values", () => {
  it("fails the render, naming the value, when secrets would not match or replicas share no registry", async () => {
    const split = await template(["--set", "xdsServer.existingSecret=mine"]);
    expect(split.code).not.toBe(0);
    expect(split.stderr).toContain("bff.existingSecret is required with xdsServer.existingSecret");
    const noRedis = await template(["--set", "redis.url=", "--set", "xdsServer.replicas=2"]);
    expect(noRedis.code).not.toBe(0);
    expect(noRedis.stderr).toMatch(/redis\.url/);
  });
});
