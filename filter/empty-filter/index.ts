// The emptiest proxy-wasm (ABI 0.2.1) HTTP filter: every request continues
// untouched, no host call. test/bench/wasm-floor.ts loads it as the floor a
// wasm filter costs in Envoy (context create/delete, the VM entries), so that
// the session-to-token filter's own work is measured beyond it.
// Built by wasm-floor.ts: asc --config filter/empty-filter/asconfig.json.

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(_contextId: u32, _parentId: u32): void {}

export function proxy_on_vm_start(_rootId: u32, _size: u32): u32 {
  return 1;
}

export function proxy_on_configure(_rootId: u32, _size: u32): u32 {
  return 1;
}

export function proxy_on_request_headers(_contextId: u32, _numHeaders: u32, _endOfStream: u32): u32 {
  return 0; // Continue
}

export function proxy_on_delete(_contextId: u32): void {}

export function abortStub(_m: usize, _f: usize, _l: u32, _c: u32): void {
  unreachable();
}
