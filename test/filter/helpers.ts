// Shared fixtures for the filter's Node-host tests.
import { createHost, type Host } from "../wasm-host/index.js";
import { WA, type WasmModule } from "../wasm-host/wasm.js";
import { ensureWasm } from "./wasm-build.js";

let compiled: WasmModule | undefined;

export async function wasmModule(): Promise<WasmModule> {
  compiled ??= await WA.compile(ensureWasm());
  return compiled;
}

export const SID = "A".repeat(43);
export const SID2 = "B".repeat(42) + "x";
export const HOST = "app.example.com";

export function config(over: Record<string, unknown> = {}, app: Record<string, unknown> = {}): string {
  return JSON.stringify({
    bff_cluster: "bff",
    cache: { enabled: true, slots: 64, skew_s: 10, max_ttl_s: 30 },
    apps: [
      {
        id: "demo",
        hosts: [HOST],
        path_prefix: "/",
        cookie: "__Host-sg-demo",
        allowed_origins: [`https://${HOST}`],
        ...app,
      },
    ],
    ...over,
  });
}

export async function host(cfg: string = config()): Promise<Host & { configured: boolean }> {
  return createHost(await wasmModule(), cfg, { clusters: ["bff"] });
}

export function req(extra: [string, string][] = [], method = "GET", path = "/api/x"): [string, string][] {
  return [[":method", method], [":path", path], [":authority", HOST], [":scheme", "https"], ...extra];
}

export function tokenBody(token: string, expiresIn = 300): string {
  return JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: expiresIn });
}
