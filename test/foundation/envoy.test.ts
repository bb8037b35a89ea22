import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort, startEcho, startEnvoy, WASM_PATH } from "../harness/index.js";

const template = readFileSync(join(import.meta.dirname, "echo.envoy.yaml"), "utf8");

const WASM_FILTER = (config: string) => `                  - name: envoy.filters.http.wasm
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
                      config:
                        name: session-to-token
                        root_id: session-to-token
                        configuration:
                          "@type": type.googleapis.com/google.protobuf.StringValue
                          value: '${config}'
                        vm_config:
                          runtime: envoy.wasm.runtime.v8
                          code: { local: { filename: "${WASM_PATH}" } }`;

async function envoyInFrontOfEcho(httpFilters: string) {
  const echo = await startEcho();
  const listenPort = await freePort();
  const envoy = await startEnvoy({
    yaml: template,
    vars: { LISTEN_PORT: listenPort, ECHO_PORT: echo.port, HTTP_FILTERS: httpFilters },
  });
  return { echo, envoy, url: `http://127.0.0.1:${listenPort}` };
}

describe("Envoy from a static bootstrap", () => {
  it("answers /ready and proxies to the echo upstream", async () => {
    const { echo, envoy, url } = await envoyInFrontOfEcho("");
    const ready = await fetch(`${envoy.adminUrl}/ready`);
    expect(await ready.text()).toBe("LIVE\n");

    const res = await fetch(`${url}/hello?x=1`, { headers: { "x-probe": "foundation" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { path: string; headers: Record<string, string> };
    expect(body.path).toBe("/hello?x=1");
    expect(body.headers["x-probe"]).toBe("foundation");
    expect(echo.requests).toHaveLength(1);
    const stats = await envoy.stats();
    expect(stats.get("http.ingress.downstream_rq_2xx")).toBe(1);
  });

  it("loads build/session-to-token.wasm and serves a request through it", async () => {
    const { echo, envoy, url } = await envoyInFrontOfEcho(WASM_FILTER('{"apps":[]}'));
    const res = await fetch(`${url}/through-wasm`);
    expect(res.status).toBe(200);
    expect(echo.requests.map((r) => r.path)).toEqual(["/through-wasm"]);
    // The filter really is in the chain: Envoy created its VM.
    const stats = await envoy.stats();
    const vmStats = [...stats.keys()].filter((k) => k.startsWith("wasm."));
    expect(vmStats.length).toBeGreaterThan(0);
    expect(stats.get("wasm.envoy.wasm.runtime.v8.active")).toBeGreaterThan(0);
  });
});
