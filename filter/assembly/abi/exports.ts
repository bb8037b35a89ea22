// The proxy_on_* entry points Envoy calls, dispatching to plain classes.
// index.ts re-exports everything here (AssemblyScript exports only from the entry file).

import { Action, callouts, rootFactory, roots, streams } from "./handlers";
import { BufferType, getBuffer, getHeader, MapType, setEffectiveContext } from "./host";
// Referenced so that asc finds the abort replacement named in asconfig.json.
import "./abort";

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

export function malloc(size: usize): usize {
  return heap.alloc(size);
}

export function proxy_on_context_create(contextId: u32, parentId: u32): void {
  if (parentId == 0) {
    const f = rootFactory;
    if (f !== null) roots.set(contextId, f(contextId));
    return;
  }
  if (roots.has(parentId)) streams.set(contextId, roots.get(parentId).newStream(contextId));
}

export function proxy_on_vm_start(_rootId: u32, _vmConfigSize: u32): u32 {
  return 1;
}

export function proxy_on_configure(rootId: u32, configSize: u32): u32 {
  if (!roots.has(rootId)) return 0;
  let cfg = configSize > 0 ? getBuffer(BufferType.PluginConfiguration, configSize) : new ArrayBuffer(0);
  if (cfg === null) cfg = new ArrayBuffer(0);
  return roots.get(rootId).onConfigure(cfg) ? 1 : 0;
}

export function proxy_on_request_headers(contextId: u32, _numHeaders: u32, endOfStream: u32): u32 {
  if (!streams.has(contextId)) return Action.Continue;
  return streams.get(contextId).onRequestHeaders(endOfStream != 0);
}

/** Routes a call's answer to the stream that made it (handlers.ts, dispatchHttpCall). */
export function proxy_on_http_call_response(
  _rootId: u32,
  token: u32,
  numHeaders: u32,
  bodySize: u32,
  _numTrailers: u32,
): void {
  if (!callouts.has(token)) return; // the stream is already gone
  const contextId = callouts.get(token);
  callouts.delete(token);
  if (!streams.has(contextId)) return;
  const stream = streams.get(contextId);
  stream.calloutToken = 0;
  // Read the answer while still on the root context, then switch to the stream.
  let status = "";
  let body: ArrayBuffer | null = null;
  if (numHeaders > 0) {
    const st = getHeader(MapType.HttpCallResponseHeaders, ":status");
    if (st !== null) status = st;
    body = bodySize > 0 ? getBuffer(BufferType.HttpCallResponseBody, bodySize) : new ArrayBuffer(0);
  }
  if (!setEffectiveContext(contextId)) return;
  stream.onHttpCallResponse(status, body);
}

// No proxy_on_done / proxy_on_log: the host skips callbacks a module does not
// export, and each one would be a VM entry on every request for nothing.

export function proxy_on_delete(contextId: u32): void {
  if (streams.has(contextId)) {
    const stream = streams.get(contextId);
    if (stream.calloutToken != 0) callouts.delete(stream.calloutToken);
    stream.onDelete();
    streams.delete(contextId);
  } else if (roots.has(contextId)) {
    roots.delete(contextId);
  }
}
