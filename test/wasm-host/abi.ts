// Byte-level helpers for the proxy-wasm ABI: the header-map wire format and
// Latin-1 string conversion (headers are bytes; Latin-1 round-trips them).

export type HeaderPair = [string, string];

export function latin1(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}

export function fromLatin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("latin1");
}

/** Serialises pairs: u32 count, (u32 key len, u32 value len)*, then key\0 value\0 ... */
export function encodePairs(pairs: HeaderPair[]): Uint8Array {
  const enc = pairs.map(([k, v]) => [latin1(k), latin1(v)] as const);
  let size = 4 + enc.length * 8;
  for (const [k, v] of enc) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, enc.length, true);
  let off = 4 + enc.length * 8;
  enc.forEach(([k, v], i) => {
    dv.setUint32(4 + i * 8, k.length, true);
    dv.setUint32(8 + i * 8, v.length, true);
    out.set(k, off);
    off += k.length + 1;
    out.set(v, off);
    off += v.length + 1;
  });
  return out;
}

export function decodePairs(b: Uint8Array): HeaderPair[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = dv.getUint32(0, true);
  let off = 4 + n * 8;
  const out: HeaderPair[] = [];
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(4 + i * 8, true);
    const vl = dv.getUint32(8 + i * 8, true);
    const k = fromLatin1(b.subarray(off, off + kl));
    off += kl + 1;
    const v = fromLatin1(b.subarray(off, off + vl));
    off += vl + 1;
    out.push([k, v]);
  }
  return out;
}

export const WasmResult = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  CasMismatch: 8,
  InternalFailure: 10,
} as const;
export const MapType = { RequestHeaders: 0, HttpCallResponseHeaders: 6 } as const;
export const BufferType = { HttpCallResponseBody: 4, PluginConfiguration: 7 } as const;
