// Safe wrappers over the raw ABI. Header names/values are handled as Latin-1
// strings (one char per byte) so that any byte sequence round-trips exactly;
// policy code never sees pointers.
import * as raw from "./imports";

export const enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}
export const enum MapType {
  RequestHeaders = 0,
  HttpCallResponseHeaders = 6,
}
export const enum BufferType {
  HttpCallResponseBody = 4,
  VmConfiguration = 6,
  PluginConfiguration = 7,
}
export const enum WasmResult {
  Ok = 0,
  NotFound = 1,
  CasMismatch = 8,
}

export class Header {
  constructor(
    public name: string,
    public value: string,
  ) {}
}

// Scratch cells where the host writes returned pointers/sizes.
const RET_PTR = memory.data(8);
const RET_SIZE = memory.data(8);
const RET_CAS = memory.data(8);

export function latin1Decode(ptr: usize, len: usize): string {
  if (len == 0) return "";
  const out = changetype<string>(__new(len << 1, idof<string>()));
  const dst = changetype<usize>(out);
  for (let i: usize = 0; i < len; i++) store<u16>(dst + (i << 1), <u16>load<u8>(ptr + i));
  return out;
}

export function latin1Encode(s: string): ArrayBuffer {
  const len = s.length;
  const out = new ArrayBuffer(len);
  const dst = changetype<usize>(out);
  const src = changetype<usize>(s);
  for (let i: usize = 0; i < <usize>len; i++) {
    const c = load<u16>(src + (i << 1));
    store<u8>(dst + i, c < 256 ? <u8>c : 0x3f);
  }
  return out;
}

/** Copies a host-allocated block into a managed buffer and frees the block. */
function takeHostBytes(): ArrayBuffer {
  const ptr = load<usize>(RET_PTR);
  const size = load<usize>(RET_SIZE);
  const out = new ArrayBuffer(<i32>size);
  if (size > 0) memory.copy(changetype<usize>(out), ptr, size);
  if (ptr != 0) heap.free(ptr);
  return out;
}

function resetRet(): void {
  store<usize>(RET_PTR, 0);
  store<usize>(RET_SIZE, 0);
}

export function log(level: LogLevel, msg: string): void {
  const b = String.UTF8.encode(msg);
  raw.proxy_log(level, changetype<usize>(b), <usize>b.byteLength);
}

export function nowMs(): u64 {
  raw.proxy_get_current_time_nanoseconds(RET_CAS);
  return load<u64>(RET_CAS) / 1000000;
}

export function getBuffer(bufferType: BufferType, size: u32): ArrayBuffer | null {
  resetRet();
  const r = raw.proxy_get_buffer_bytes(bufferType, 0, size, RET_PTR, RET_SIZE);
  if (r != WasmResult.Ok) return null;
  return takeHostBytes();
}

export function getHeaderPairs(mapType: MapType): Header[] {
  resetRet();
  const out: Header[] = [];
  if (raw.proxy_get_header_map_pairs(mapType, RET_PTR, RET_SIZE) != WasmResult.Ok) return out;
  const buf = takeHostBytes();
  const base = changetype<usize>(buf);
  const total = <usize>buf.byteLength;
  if (total < 4) return out;
  const n = <usize>load<u32>(base);
  // Defensive bounds checks: a malformed host buffer must not make us read out of range.
  if (<u64>4 + <u64>n * 8 > <u64>total) return out;
  let data = base + 4 + n * 8;
  const end = base + total;
  for (let i: usize = 0; i < n; i++) {
    const kl = <usize>load<u32>(base + 4 + i * 8);
    const vl = <usize>load<u32>(base + 8 + i * 8);
    if (<u64>data + <u64>kl + <u64>vl + 2 > <u64>end) break;
    const k = latin1Decode(data, kl);
    data += kl + 1;
    const v = latin1Decode(data, vl);
    data += vl + 1;
    out.push(new Header(k, v));
  }
  return out;
}

export function getHeader(mapType: MapType, name: string): string | null {
  const k = latin1Encode(name);
  resetRet();
  const r = raw.proxy_get_header_map_value(
    mapType,
    changetype<usize>(k),
    <usize>k.byteLength,
    RET_PTR,
    RET_SIZE,
  );
  if (r != WasmResult.Ok) return null;
  const b = takeHostBytes();
  return latin1Decode(changetype<usize>(b), <usize>b.byteLength);
}

export function replaceHeader(mapType: MapType, name: string, value: string): void {
  replaceHeaderBytes(mapType, name, latin1Encode(value));
}

/** Same as replaceHeader with the value already as bytes (hot path: the cached token). */
export function replaceHeaderBytes(mapType: MapType, name: string, v: ArrayBuffer): void {
  const k = latin1Encode(name);
  raw.proxy_replace_header_map_value(
    mapType,
    changetype<usize>(k),
    <usize>k.byteLength,
    changetype<usize>(v),
    <usize>v.byteLength,
  );
}

export function addHeader(mapType: MapType, name: string, value: string): void {
  const k = latin1Encode(name);
  const v = latin1Encode(value);
  raw.proxy_add_header_map_value(
    mapType,
    changetype<usize>(k),
    <usize>k.byteLength,
    changetype<usize>(v),
    <usize>v.byteLength,
  );
}

export function removeHeader(mapType: MapType, name: string): void {
  const k = latin1Encode(name);
  raw.proxy_remove_header_map_value(mapType, changetype<usize>(k), <usize>k.byteLength);
}

/** Serialises header pairs in the proxy-wasm map format. */
export function serializeHeaders(headers: Header[]): ArrayBuffer {
  const n = headers.length;
  const names = new Array<ArrayBuffer>(n);
  const values = new Array<ArrayBuffer>(n);
  let size = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    names[i] = latin1Encode(headers[i].name);
    values[i] = latin1Encode(headers[i].value);
    size += names[i].byteLength + values[i].byteLength + 2;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, n);
  let data = base + 4 + <usize>n * 8;
  for (let i = 0; i < n; i++) {
    const kl = <usize>names[i].byteLength;
    const vl = <usize>values[i].byteLength;
    store<u32>(base + 4 + <usize>i * 8, <u32>kl);
    store<u32>(base + 8 + <usize>i * 8, <u32>vl);
    memory.copy(data, changetype<usize>(names[i]), kl);
    data += kl;
    store<u8>(data++, 0);
    memory.copy(data, changetype<usize>(values[i]), vl);
    data += vl;
    store<u8>(data++, 0);
  }
  return out;
}

export function sendLocalResponse(status: u32, details: string, body: string, headers: Header[]): void {
  const d = String.UTF8.encode(details);
  const b = String.UTF8.encode(body);
  const h = serializeHeaders(headers);
  raw.proxy_send_local_response(
    status,
    changetype<usize>(d),
    <usize>d.byteLength,
    changetype<usize>(b),
    <usize>b.byteLength,
    changetype<usize>(h),
    <usize>h.byteLength,
    -1,
  );
}

/** Starts an HTTP call; returns the call token, or 0 when the host refused it. */
export function httpCall(cluster: string, headers: Header[], timeoutMs: u32): u32 {
  const c = String.UTF8.encode(cluster);
  const h = serializeHeaders(headers);
  const t = serializeHeaders([]);
  store<u32>(RET_CAS, 0);
  const r = raw.proxy_http_call(
    changetype<usize>(c),
    <usize>c.byteLength,
    changetype<usize>(h),
    <usize>h.byteLength,
    0,
    0,
    changetype<usize>(t),
    <usize>t.byteLength,
    timeoutMs,
    RET_CAS,
  );
  if (r != WasmResult.Ok) return 0;
  const token = load<u32>(RET_CAS);
  // Token 0 is our "failed" marker; hosts start at 1 in practice.
  return token;
}

export class SharedValue {
  constructor(
    public found: bool,
    public bytes: ArrayBuffer,
    public cas: u32,
  ) {}
}

export function sharedGet(key: string): SharedValue {
  const k = String.UTF8.encode(key);
  resetRet();
  store<u32>(RET_CAS, 0);
  const r = raw.proxy_get_shared_data(changetype<usize>(k), <usize>k.byteLength, RET_PTR, RET_SIZE, RET_CAS);
  if (r != WasmResult.Ok) return new SharedValue(false, new ArrayBuffer(0), 0);
  const cas = load<u32>(RET_CAS);
  return new SharedValue(true, takeHostBytes(), cas);
}

export function sharedSet(key: string, value: ArrayBuffer, cas: u32): u32 {
  const k = String.UTF8.encode(key);
  return raw.proxy_set_shared_data(
    changetype<usize>(k),
    <usize>k.byteLength,
    changetype<usize>(value),
    <usize>value.byteLength,
    cas,
  );
}

/** Defines a counter; returns its id, or u32.MAX_VALUE when the host refused. */
export function defineCounter(name: string): u32 {
  const n = String.UTF8.encode(name);
  store<u32>(RET_CAS, 0);
  if (raw.proxy_define_metric(0, changetype<usize>(n), <usize>n.byteLength, RET_CAS) != WasmResult.Ok)
    return u32.MAX_VALUE;
  return load<u32>(RET_CAS);
}

export function incrementCounter(id: u32): void {
  if (id != u32.MAX_VALUE) raw.proxy_increment_metric(id, 1);
}

export function setEffectiveContext(id: u32): bool {
  return raw.proxy_set_effective_context(id) == WasmResult.Ok;
}

export function continueRequest(): void {
  raw.proxy_continue_stream(0);
}
