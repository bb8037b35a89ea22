// examples/istio/ and examples/envoy-gateway/: every manifest validated against
// the CRD schemas Istio and Envoy Gateway publish (from their Go modules through
// the Go module proxy; Services against Kubernetes' own schema), the wiring
// between the manifests checked (Istio's cluster name for the BFF, the filter
// order, the patch-policy cluster), and each example's filter configuration
// loaded into the real Envoy with the wasm module, proving it is accepted and
// routes the BFF call to the cluster it names.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { startTokenServer } from "../fixtures/token-server.js";
import {
  type EnvoyHandle,
  freePort,
  hostRequest,
  onCleanup,
  REPO_ROOT,
  startEcho,
  startEnvoy,
  waitFor,
} from "../harness/index.js";
import { CrdValidator, goModuleDir } from "./crd-schema.js";
import { type K8sObject, schemaErrors } from "./k8s-schema.js";

// Pinned: the schemas the examples are written against.
const ISTIO_API = "istio.io/api@v1.30.8";
const ENVOY_GATEWAY = "github.com/envoyproxy/gateway@v1.6.0";

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML, read field by field
type Free = Record<string, any>;
type Obj = K8sObject & { spec?: Free };

function manifests(dir: string): Obj[] {
  const root = join(REPO_ROOT, "examples", dir);
  return readdirSync(root)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(root, f), "utf8")).map((d) => d.toJS() as Obj));
}

const find = (objs: Obj[], kind: string, name?: string) => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind}${name ? `/${name}` : ""} in the example`);
  return o;
};

async function allErrors(objs: Obj[], crds: CrdValidator): Promise<string[]> {
  const core = objs.filter((o) => o.apiVersion === "v1");
  return [
    ...(await schemaErrors(core)),
    ...objs.filter((o) => o.apiVersion !== "v1").flatMap((o) => crds.errors(o)),
  ];
}

let istio: CrdValidator;
let eg: CrdValidator;

beforeAll(() => {
  const istioDir = goModuleDir(ISTIO_API);
  istio = new CrdValidator([join(istioDir, "kubernetes/customresourcedefinitions.gen.yaml")]);
  const egDir = join(goModuleDir(ENVOY_GATEWAY), "charts/gateway-helm/crds");
  const generated = join(egDir, "generated");
  eg = new CrdValidator([
    join(egDir, "gatewayapi-crds.yaml"),
    ...readdirSync(generated).map((f) => join(generated, f)),
  ]);
}, 600_000);

describe("examples/istio against Istio's CRDs", () => {
  const objs = manifests("istio");

  it("every manifest is valid (Istio CRDs, Kubernetes core), and the validator does refuse a typo", async () => {
    expect(istio.size).toBeGreaterThan(10);
    expect(objs.map((o) => o.kind).sort()).toEqual(
      expect.arrayContaining([
        "AuthorizationPolicy",
        "RequestAuthentication",
        "Service",
        "ServiceEntry",
        "WasmPlugin",
      ]),
    );
    expect(await allErrors(objs, istio)).toEqual([]);
    const wp = structuredClone(find(objs, "WasmPlugin"));
    wp.spec!.phaze = "AUTHN";
    expect(istio.errors(wp).join("\n")).toContain("phaze");
    wp.spec = { ...find(objs, "WasmPlugin").spec, phase: "BEFORE_AUTHN" };
    expect(istio.errors(wp)).not.toEqual([]);
  });

  it("the WasmPlugin runs in phase AUTHN, pinned by digest, and names the BFF's internal port by Istio's cluster name", () => {
    const wp = find(objs, "WasmPlugin");
    expect(wp.spec!.phase).toBe("AUTHN");
    expect(wp.spec!.failStrategy).toBe("FAIL_CLOSE");
    expect(wp.spec!.url).toMatch(/^oci:\/\/[^@]+@sha256:[0-9a-f]{64}$/);
    const svc = find(objs, "Service", "sessiongate-bff");
    const internal = svc.spec!.ports.find((p: { name: string }) => p.name === "http-internal");
    const fqdn = `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`;
    expect(wp.spec!.pluginConfig.bff_cluster).toBe(`outbound|${internal.port}||${fqdn}`);
    // The filter runs on public routes too: their route removes the swapped-in token.
    const vs = find(objs, "VirtualService");
    const pub = vs.spec!.http.find((r: { name: string }) => r.name === "public");
    expect(pub.headers.request.remove).toEqual(expect.arrayContaining(["authorization", "cookie"]));
    const se = find(objs, "ServiceEntry");
    expect(se.spec!.ports.map((p: { number: number }) => p.number)).toContain(internal.port);
  });
});

describe("examples/envoy-gateway against Envoy Gateway's and Gateway API's CRDs", () => {
  const objs = manifests("envoy-gateway");

  it("every manifest is valid, and the validator does refuse a typo", async () => {
    expect(eg.size).toBeGreaterThan(10);
    expect(objs.map((o) => o.kind)).toEqual(
      expect.arrayContaining([
        "EnvoyExtensionPolicy",
        "SecurityPolicy",
        "EnvoyProxy",
        "HTTPRoute",
        "EnvoyPatchPolicy",
      ]),
    );
    expect(await allErrors(objs, eg)).toEqual([]);
    const proxy = structuredClone(find(objs, "EnvoyProxy"));
    proxy.spec = { filterOrdr: proxy.spec!.filterOrder };
    expect(eg.errors(proxy).join("\n")).toContain("filterOrdr");
  });

  it("wasm runs before jwt_authn, on the app's route only, and calls the cluster the patch policy adds", () => {
    expect(find(objs, "EnvoyProxy").spec!.filterOrder).toContainEqual({
      name: "envoy.filters.http.wasm",
      before: "envoy.filters.http.jwt_authn",
    });
    const ext = find(objs, "EnvoyExtensionPolicy");
    const jwt = find(objs, "SecurityPolicy");
    expect(ext.spec!.targetRefs).toEqual(jwt.spec!.targetRefs);
    expect(ext.spec!.targetRefs.map((r: { name: string }) => r.name)).toEqual(["shop-app"]);
    const wasm = ext.spec!.wasm[0];
    expect(wasm.code.type).toBe("Image");
    expect(wasm.code.image.url).toMatch(/@sha256:[0-9a-f]{64}$/);
    const patch = find(objs, "EnvoyPatchPolicy");
    expect(patch.spec!.jsonPatches[0].name).toBe(wasm.config.bff_cluster);
    // The public route removes the cookies no filter strips there.
    const pub = find(objs, "HTTPRoute", "shop-public");
    expect(pub.spec!.rules[0].filters[0].requestHeaderModifier.remove).toEqual(["cookie", "authorization"]);
  });
});

/** Envoy with the wasm module and this filter configuration, its BFF cluster named as the config says. */
async function envoyWith(config: Free) {
  const upstream = await startEcho();
  const bff = await startTokenServer();
  bff.acceptAny = true;
  onCleanup(() => bff.stop());
  const listen = await freePort();
  // The template's BFF cluster renamed to the configuration's (a JSON string is a YAML scalar).
  const template = readFileSync(join(REPO_ROOT, "envoy/wasm-filter.yaml"), "utf8").replaceAll(
    "sessiongate_bff_internal",
    JSON.stringify(String(config.bff_cluster)),
  );
  const envoy = await startEnvoy({
    yaml: template,
    name: "mesh-config",
    vars: {
      LISTEN_PORT: listen,
      ECHO_PORT: upstream.port,
      BFF_PORT: bff.port,
      FILTER_CONFIG: JSON.stringify(config),
    },
  });
  return { envoy, upstream, bff, listen };
}

const SID = "S".repeat(43);

/** The filter's configure log line (Envoy's log reaches the file a little after /ready). */
const configured = (envoy: EnvoyHandle, line: string) =>
  waitFor(`the filter logs "${line}"`, async () => envoy.proc.log().includes(line), 15_000, 50);

describe("the examples' filter configurations in the real Envoy", () => {
  it("Istio's pluginConfig is accepted: the BFF is called on outbound|8081||…, the BFF entry passes the login cookie", async () => {
    const wp = find(manifests("istio"), "WasmPlugin");
    const { envoy, upstream, bff, listen } = await envoyWith(wp.spec!.pluginConfig);
    await configured(envoy, "configured, 2 app(s) in the plugin configuration");
    const host = "shop.example.com";
    const api = await hostRequest(listen, "/api/orders", { host, cookie: `__Host-sg-shop=${SID}` });
    expect(api.status).toBe(200);
    expect(bff.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("shop");
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer t_${SID}`);
    const cb = await hostRequest(listen, "/auth/shop/callback?code=c", {
      host,
      cookie: `__Host-sg-shop-login=state; __Host-sg-other=${SID}`,
    });
    expect(cb.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.cookie).toBe("__Host-sg-shop-login=state");
  });

  it("Envoy Gateway's EnvoyExtensionPolicy config is accepted and calls sessiongate_bff_internal", async () => {
    const ext = find(manifests("envoy-gateway"), "EnvoyExtensionPolicy");
    const { envoy, upstream, bff, listen } = await envoyWith(ext.spec!.wasm[0].config);
    await configured(envoy, "configured, 1 app(s) in the plugin configuration");
    const api = await hostRequest(listen, "/api/orders", {
      host: "shop.example.com",
      cookie: `__Host-sg-shop=${SID}`,
    });
    expect(api.status).toBe(200);
    expect(bff.requests.at(-1)?.headers["x-sessiongate-app"]).toBe("shop");
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer t_${SID}`);
  });
});
