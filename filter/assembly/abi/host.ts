// Safe wrappers over the raw ABI. Header names/values are handled as Latin-1
// strings (one char per byte) so that any byte sequence round-trips exactly;
// policy code never sees pointers. One file over ~250 lines on purpose, like
// proxy-wasm-rust-sdk's hostcalls.rs: one wrapper per host function the filter
// uses, all sharing the scratch cells the host writes results into (RET_*).
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

/**
 * A header map as the host serialised it, read in place: nothing is decoded
 * until a value is asked for, so headers the policy ignores (user-agent,
 * accept, …) cost no allocation. Call free() when done: the block is host
 * memory handed to us through proxy_on_memory_allocate.
 */
export class HeaderBlock {
  private ptr: usize = 0;
  private count: usize = 0;
  private end: usize = 0;

  static read(mapType: MapType): HeaderBlock {
    const b = new HeaderBlock();
    resetRet();
    if (raw.proxy_get_header_map_pairs(mapType, RET_PTR, RET_SIZE) != WasmResult.Ok) return b;
    const ptr = load<usize>(RET_PTR);
    const total = load<usize>(RET_SIZE);
    b.ptr = ptr;
    if (ptr == 0 || total < 4) return b;
    const n = <usize>load<u32>(ptr);
    // Defensive bounds checks: a malformed host buffer must not make us read out of range.
    if (<u64>4 + <u64>n * 8 > <u64>total) return b;
    b.count = n;
    b.end = ptr + total;
    return b;
  }

  /** Decoded value of the first header named `name`, or null. */
  first(name: ArrayBuffer): string | null {
    const at = this.find(name, 0);
    return at == 0 ? null : latin1Decode(this.valuePtr(at), this.valueLen(at));
  }

  /**
   * Whether some header named `name` has a value that is not only whitespace (no decoding).
   * Whitespace as String#trim sees it in Latin-1: TAB, LF, VT, FF, CR, SP and NBSP (0xA0).
   */
  anyNonBlank(name: ArrayBuffer): bool {
    let at = this.find(name, 0);
    while (at != 0) {
      const v = this.valuePtr(at);
      const n = this.valueLen(at);
      for (let i: usize = 0; i < n; i++) {
        const c = <u32>load<u8>(v + i);
        if ((c | 0x80) != 0xa0 && c - 0x09 > 0x0d - 0x09) return true;
      }
      at = this.find(name, at);
    }
    return false;
  }

  /** Whether the first header named `name` is exactly one of the `choices` (bytes, no decoding). */
  firstIsOneOf(name: ArrayBuffer, choices: ArrayBuffer[]): bool {
    const at = this.find(name, 0);
    if (at == 0) return false;
    const v = this.valuePtr(at);
    const n = this.valueLen(at);
    for (let i = 0; i < choices.length; i++) {
      const c = unchecked(choices[i]);
      if (<usize>c.byteLength == n && memory.compare(v, changetype<usize>(c), n) == 0) return true;
    }
    return false;
  }

  // A found header is named by a cursor: (index + 1) << 32 | offset of its name in the block.
  /** Where the value of the header at cursor `at` (from next()) starts, in host memory valid until free(). */
  valuePtr(at: u64): usize {
    const i = <usize>(at >> 32) - 1;
    return <usize>(at & 0xffffffff) + <usize>load<u32>(this.ptr + 4 + i * 8) + 1;
  }

  /** The byte length of the value of the header at cursor `at`. */
  valueLen(at: u64): usize {
    const i = <usize>(at >> 32) - 1;
    return <usize>load<u32>(this.ptr + 8 + i * 8);
  }

  /** The cursor of the next header named `name` after cursor `after` (0: from the start), or 0. */
  next(name: ArrayBuffer, after: u64): u64 {
    return this.find(name, after);
  }

  /** The number of headers named `name`. */
  countOf(name: ArrayBuffer): i32 {
    let n = 0;
    for (let at = this.find(name, 0); at != 0; at = this.find(name, at)) n++;
    return n;
  }

  private find(name: ArrayBuffer, after: u64): u64 {
    const base = this.ptr;
    const want = <usize>name.byteLength;
    const wantPtr = changetype<usize>(name);
    let i: usize = 0;
    let data = base + 4 + this.count * 8;
    if (after != 0) {
      i = <usize>(after >> 32);
      const prev = i - 1;
      data =
        <usize>(after & 0xffffffff) +
        <usize>load<u32>(base + 4 + prev * 8) +
        <usize>load<u32>(base + 8 + prev * 8) +
        2;
    }
    for (; i < this.count; i++) {
      const kl = <usize>load<u32>(base + 4 + i * 8);
      const vl = <usize>load<u32>(base + 8 + i * 8);
      if (<u64>data + <u64>kl + <u64>vl + 2 > <u64>this.end) return 0;
      if (kl == want && memory.compare(data, wantPtr, kl) == 0) return ((<u64>(i + 1)) << 32) | <u64>data;
      data += kl + vl + 2;
    }
    return 0;
  }

  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.count = 0;
  }
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
  replaceHeaderBytes(mapType, latin1Encode(name), latin1Encode(value));
}

/** Same as replaceHeader with name and value already as bytes (hot path: the cached token). */
export function replaceHeaderBytes(mapType: MapType, k: ArrayBuffer, v: ArrayBuffer): void {
  raw.proxy_replace_header_map_value(
    mapType,
    changetype<usize>(k),
    <usize>k.byteLength,
    changetype<usize>(v),
    <usize>v.byteLength,
  );
}

/** Same as replaceHeaderBytes with the value at `len` bytes from `p` (e.g. host memory read in place). */
export function replaceHeaderAt(mapType: MapType, k: ArrayBuffer, p: usize, len: usize): void {
  raw.proxy_replace_header_map_value(mapType, changetype<usize>(k), <usize>k.byteLength, p, len);
}

/** Removes every header named `k` (lower-case Latin-1 bytes). */
export function removeHeader(mapType: MapType, k: ArrayBuffer): void {
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

/**
 * A shared-data value read in place (host memory): the cache builds its header
 * value straight from these bytes. Call free() when done.
 */
export class SharedBlock {
  found: bool = false;
  ptr: usize = 0;
  size: usize = 0;
  cas: u32 = 0;

  u8At(offset: usize): u8 {
    return offset < this.size ? load<u8>(this.ptr + offset) : 0;
  }

  /** Little-endian u64 at `offset` (0 when out of range). */
  u64At(offset: usize): u64 {
    return offset + 8 <= this.size ? load<u64>(this.ptr + offset) : 0;
  }

  /** Whether the `n` bytes at `p` appear at `offset`, compared in constant time. */
  equalsAtPtr(offset: usize, p: usize, n: usize): bool {
    if (offset + n > this.size) return false;
    let diff: u32 = 0;
    for (let i: usize = 0; i < n; i++) diff |= <u32>(load<u8>(this.ptr + offset + i) ^ load<u8>(p + i));
    return diff == 0;
  }

  /** Whether `bytes` appear at `offset`, compared in constant time. */
  equalsAt(offset: usize, bytes: ArrayBuffer): bool {
    const n = <usize>bytes.byteLength;
    if (offset + n > this.size) return false;
    const b = changetype<usize>(bytes);
    let diff: u32 = 0;
    for (let i: usize = 0; i < n; i++) diff |= <u32>(load<u8>(this.ptr + offset + i) ^ load<u8>(b + i));
    return diff == 0;
  }

  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.size = 0;
  }
}

/** Reads shared data under the `len` key bytes at `key` into `b` (reused: no allocation); false when absent. */
export function sharedGetInto(b: SharedBlock, key: usize, len: usize): bool {
  b.found = false;
  b.ptr = 0;
  b.size = 0;
  b.cas = 0;
  resetRet();
  store<u32>(RET_CAS, 0);
  if (raw.proxy_get_shared_data(key, len, RET_PTR, RET_SIZE, RET_CAS) != WasmResult.Ok) return false;
  b.found = true;
  b.ptr = load<usize>(RET_PTR);
  b.size = b.ptr == 0 ? 0 : load<usize>(RET_SIZE);
  b.cas = load<u32>(RET_CAS);
  return true;
}

/** Reads shared data under `key` (UTF-8 bytes). */
export function sharedGet(key: ArrayBuffer): SharedBlock {
  const b = new SharedBlock();
  resetRet();
  store<u32>(RET_CAS, 0);
  const r = raw.proxy_get_shared_data(
    changetype<usize>(key),
    <usize>key.byteLength,
    RET_PTR,
    RET_SIZE,
    RET_CAS,
  );
  if (r != WasmResult.Ok) return b;
  b.found = true;
  b.ptr = load<usize>(RET_PTR);
  b.size = b.ptr == 0 ? 0 : load<usize>(RET_SIZE);
  b.cas = load<u32>(RET_CAS);
  return b;
}

export function sharedSet(key: ArrayBuffer, value: ArrayBuffer, cas: u32): u32 {
  return raw.proxy_set_shared_data(
    changetype<usize>(key),
    <usize>key.byteLength,
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

/** A property path in the ABI's form: the segments joined by NUL bytes (encode once, reuse). */
export function propertyPath(segments: string[]): ArrayBuffer {
  return String.UTF8.encode(segments.join("\0"));
}

/** Bytes the host wrote into our memory, read in place: call free() when done. */
export class HostBytes {
  ptr: usize = 0;
  size: usize = 0;

  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.size = 0;
  }
}

/** The value of a host property into `b` (in place, no copy); false when absent. */
export function getPropertyInto(path: ArrayBuffer, b: HostBytes): bool {
  b.free();
  resetRet();
  const r = raw.proxy_get_property(changetype<usize>(path), <usize>path.byteLength, RET_PTR, RET_SIZE);
  if (r != WasmResult.Ok) return false;
  b.ptr = load<usize>(RET_PTR);
  b.size = b.ptr == 0 ? 0 : load<usize>(RET_SIZE);
  return true;
}
