// Tolerant Cookie header parsing (RFC 6265 §5.4 / §4.2, as browsers send it):
// several Cookie headers, optional whitespace around ';' and '=', quoted
// values, duplicates. The first occurrence of the session cookie wins (RFC
// 6265 orders longer paths first; a __Host- cookie only ever has Path=/).
// Every cookie sessiongate sets (session and login cookies of every app) is
// named in COOKIE_NAMESPACE, and none of them may reach an upstream: the scan
// drops them all, whatever the route.
//
// The scan reads the header bytes in place (abi/host.ts HeaderBlock) and
// allocates nothing: a cache hit is on the path of every request, so the
// session id stays a (pointer, length) into the header block, decoded only when
// a miss needs it as a string, and the cookies that go on are only joined into
// a new header value when something was dropped and something is left.
import { HeaderBlock, latin1Decode } from "./abi/host";
import { COOKIE_NAMESPACE } from "./rules";

export class CookieScan {
  /** Whether the session cookie appears at all. */
  found: bool = false;
  /** Its first occurrence's value (quotes removed) in the header block: valid until the block is freed. */
  valuePtr: usize = 0;
  valueLen: usize = 0;
  /** Whether any pair was dropped (the session cookie or another namespace cookie): the header must be rewritten. */
  dropped: bool = false;
  /** How many pairs outside the namespace go on, and their bytes (trimmed): what goes upstream. */
  others: i32 = 0;
  othersLen: usize = 0;

  /** The session cookie's value as a string (decoded on demand: the hit path never needs it). */
  get value(): string {
    return latin1Decode(this.valuePtr, this.valueLen);
  }
}

// Wasm runs one callback at a time per VM: one scan result, reused, no allocation per request.
const SCAN = new CookieScan();
const NS = String.UTF8.encode(COOKIE_NAMESPACE.toLowerCase());

/** Whether the `len` bytes at `p` name a cookie in the namespace, ASCII case-insensitively (RFC 6265bis compares prefixes so). */
export function inNamespaceAt(p: usize, len: usize): bool {
  const n = <usize>NS.byteLength;
  if (len < n) return false;
  const ns = changetype<usize>(NS);
  for (let i: usize = 0; i < n; i++) {
    let c = <u32>load<u8>(p + i);
    if (c - 0x41 < 26) c += 0x20;
    if (c != <u32>load<u8>(ns + i)) return false;
  }
  return true;
}

function isOws(c: u32): bool {
  return c == 0x20 || c == 0x09;
}

function bytesEqual(p: usize, len: usize, b: ArrayBuffer): bool {
  return <usize>b.byteLength == len && memory.compare(p, changetype<usize>(b), len) == 0;
}

/**
 * One pass over the Cookie headers of `hs` (header name `header`): finds the
 * session cookie `name` (empty: the request has no app, only the namespace is
 * dropped) and counts every pair outside the namespace. `keep` (a BFF route):
 * `name` and `keep` are kept as they are, not taken as the session; the rest of
 * the namespace is dropped. With `out` != 0 the kept pairs are written there,
 * joined by "; " (joinKept). The result is valid until the next scan.
 */
function pass(
  hs: HeaderBlock,
  header: ArrayBuffer,
  name: ArrayBuffer,
  keep: ArrayBuffer,
  out: usize,
): CookieScan {
  const r = SCAN;
  r.found = false;
  r.valuePtr = 0;
  r.valueLen = 0;
  r.dropped = false;
  r.others = 0;
  r.othersLen = 0;
  const bff = keep.byteLength > 0;
  const anyApp = name.byteLength > 0;
  let o = out;
  for (let at = hs.next(header, 0); at != 0; at = hs.next(header, at)) {
    const hv = hs.valuePtr(at);
    const hvEnd = hv + hs.valueLen(at);
    let start = hv;
    while (start <= hvEnd) {
      let end = start;
      while (end < hvEnd && load<u8>(end) != 0x3b) end++; // ';'
      // The piece [a, b), trimmed of optional whitespace.
      let a = start;
      let b = end;
      start = end + 1;
      while (a < b && isOws(load<u8>(a))) a++;
      while (b > a && isOws(load<u8>(b - 1))) b--;
      if (a == b) continue;
      let eq = a;
      while (eq < b && load<u8>(eq) != 0x3d) eq++; // '='
      let keepIt = true;
      // A piece without '=' is a nameless cookie in browsers; never ours.
      if (eq < b) {
        let ne = eq;
        while (ne > a && isOws(load<u8>(ne - 1))) ne--;
        const nameLen = ne - a;
        const isName = anyApp && bytesEqual(a, nameLen, name);
        if (bff && (isName || bytesEqual(a, nameLen, keep))) keepIt = true;
        else if (!isName) keepIt = !inNamespaceAt(a, nameLen);
        else {
          keepIt = false;
          // The first occurrence is the session; a duplicate is dropped, never forwarded.
          if (!r.found) {
            let va = eq + 1;
            let vb = b;
            while (va < vb && isOws(load<u8>(va))) va++;
            if (vb - va >= 2 && load<u8>(va) == 0x22 && load<u8>(vb - 1) == 0x22) {
              va++;
              vb--;
            }
            r.found = true;
            r.valuePtr = va;
            r.valueLen = vb - va;
          }
        }
      }
      if (!keepIt) {
        r.dropped = true;
        continue;
      }
      const n = b - a;
      if (o != 0) {
        if (r.others > 0) {
          store<u16>(o, 0x203b); // "; "
          o += 2;
        }
        memory.copy(o, a, n);
        o += n;
      }
      r.others++;
      r.othersLen += n;
    }
  }
  return r;
}

/** Scans the Cookie headers (`header`: the name "cookie" as bytes) for the app's cookie `name`; see pass(). */
export function scanCookies(
  hs: HeaderBlock,
  header: ArrayBuffer,
  name: ArrayBuffer,
  keep: ArrayBuffer,
): CookieScan {
  return pass(hs, header, name, keep, 0);
}

/**
 * The pairs that go on after scanCookies found something to drop, as one
 * Cookie header value ("a=1; b=2"); call with the same arguments, before the
 * block is freed. Scans again (rewrites are rarer than hits).
 */
export function joinKept(
  hs: HeaderBlock,
  header: ArrayBuffer,
  name: ArrayBuffer,
  keep: ArrayBuffer,
): ArrayBuffer {
  const first = pass(hs, header, name, keep, 0);
  const size = first.othersLen + (first.others > 1 ? <usize>(first.others - 1) * 2 : 0);
  const buf = new ArrayBuffer(<i32>size);
  pass(hs, header, name, keep, changetype<usize>(buf));
  return buf;
}
