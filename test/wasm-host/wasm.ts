// Minimal typings for Node's global WebAssembly: the project's tsconfig has no
// DOM lib and @types/node only declares the namespace, not its classes.
export interface WasmMemory {
  buffer: ArrayBuffer;
}
export interface WasmModule {
  readonly __brand?: "WasmModule";
}
export interface WasmInstance {
  exports: Record<string, unknown>;
}
export interface WasmImportDescriptor {
  module: string;
  name: string;
  kind: string;
}
interface WasmStatic {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(m: WasmModule): WasmImportDescriptor[];
    exports(m: WasmModule): { name: string; kind: string }[];
  };
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(m: WasmModule, imports: Record<string, Record<string, unknown>>): Promise<WasmInstance>;
}
export const WA: WasmStatic = (globalThis as unknown as { WebAssembly: WasmStatic }).WebAssembly;

export function isModule(x: unknown): x is WasmModule {
  return x instanceof (WA.Module as unknown as new () => object);
}
