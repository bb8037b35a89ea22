// Token cache in proxy-wasm shared data (one table for all workers of the VM).
// Shared data has no delete, so the cache is a direct-mapped table of
// `slots` keys ("s2t:<index>"): memory is bounded by slots x entry size,
// whatever the number of sessions. Each entry carries the SHA-256 of
// (app id, session id) and is only returned when that digest matches, so a
// slot collision is a miss, never another session's token. Writes use the
// CAS value read at lookup time: a concurrent writer wins, we just skip.
import { latin1Encode, SharedBlock, sharedGetInto, sharedSet, WasmResult } from "./abi/host";
import { MAX_SESSION_ID } from "./rules";
import { sha256Into } from "./sha256";

const VERSION: u8 = 1;
/** An entry that holds no token: the BFF answered 502 (provider unavailable) for this session. */
const FAILING: u8 = 2;
/** How long a 502 from the BFF is answered from the cache (503) instead of asking again. */
export const FAILING_MS: u64 = 1000;
const BEARER = String.UTF8.encode("Bearer ");
const HEADER = 1 + 32 + 8;
/** Tokens longer than this are used but not cached (keeps the table's memory bounded). */
export const MAX_CACHED_TOKEN = 8192;

// A cache hit allocates nothing but the header value: this request's key is
// built in scratch memory (wasm runs one callback at a time per VM), and kept
// as a CacheKey only on a miss, which outlives the callback.
// app id (<= 63) + "\n" + session id (<= MAX_SESSION_ID) = 320 bytes, 384 with SHA-256's padding.
const KEY_IN = memory.data(384);
const DIGEST = memory.data(32);
/** "s2t:" and the decimal slot index (slots <= 1,048,576: at most 7 digits). */
const SLOT_KEY = memory.data(16);
let slotKeyLen: usize = 0;
const SHARED = new SharedBlock();

export class CacheKey {
  constructor(
    public digest: ArrayBuffer,
    /** "s2t:<index>" as UTF-8: the shared-data key. */
    public slotKey: ArrayBuffer,
  ) {}
}

/** CAS value of the slot as read by the last lookup (0 when empty): used for the write-back. */
export let lookupCas: u32 = 0;
/** The last lookup found the BFF could not get this session a token moments ago (502): fail closed without asking again. */
export let lookupFailing: bool = false;

/**
 * This request's key: SHA-256(app id, "\n", session id) and its slot, in scratch
 * memory. `sessionId` must be a valid session id (ASCII, at most MAX_SESSION_ID).
 */
export function computeKey(appId: ArrayBuffer, sessionId: string, slots: u32): void {
  assert(appId.byteLength <= 63 && sessionId.length <= MAX_SESSION_ID);
  const p = KEY_IN;
  const idLen = <usize>appId.byteLength;
  memory.copy(p, changetype<usize>(appId), idLen);
  store<u8>(p + idLen, 0x0a);
  const sidLen = <usize>sessionId.length;
  const src = changetype<usize>(sessionId);
  for (let i: usize = 0; i < sidLen; i++) store<u8>(p + idLen + 1 + i, <u8>load<u16>(src + (i << 1)));
  sha256Into(p, idLen + 1 + sidLen, DIGEST);
  let index = bswap<u32>(load<u32>(DIGEST)) % slots;
  // "s2t:" then the digits of index.
  store<u32>(SLOT_KEY, 0x3a743273); // 's' '2' 't' ':' little-endian
  let digits: usize = 1;
  for (let x = index; x >= 10; x /= 10) digits++;
  for (let i = digits; i > 0; i--) {
    store<u8>(SLOT_KEY + 3 + i, <u8>(0x30 + (index % 10)));
    index /= 10;
  }
  slotKeyLen = 4 + digits;
}

/** The key computed last, as a CacheKey that outlives this callback (a miss's write-back). */
export function savedKey(): CacheKey {
  const d = new ArrayBuffer(32);
  memory.copy(changetype<usize>(d), DIGEST, 32);
  const k = new ArrayBuffer(<i32>slotKeyLen);
  memory.copy(changetype<usize>(k), SLOT_KEY, slotKeyLen);
  return new CacheKey(d, k);
}

/**
 * "Bearer <token>" bytes when the slot of the key computed last holds a fresh
 * token for this session, else null; sets lookupCas and lookupFailing.
 */
export function lookup(nowMs: u64): ArrayBuffer | null {
  lookupCas = 0;
  lookupFailing = false;
  const v = SHARED;
  if (!sharedGetInto(v, SLOT_KEY, slotKeyLen)) return null;
  lookupCas = v.cas;
  let bearer: ArrayBuffer | null = null;
  if (v.size >= <usize>HEADER && v.equalsAtPtr(1, DIGEST, 32) && nowMs < v.u64At(33)) {
    const kind = v.u8At(0);
    // The header value is built straight from the host's bytes (no intermediate copy).
    if (kind == VERSION && v.size > <usize>HEADER) bearer = v.tailWithPrefix(BEARER, HEADER);
    else if (kind == FAILING) lookupFailing = true;
  }
  v.free();
  return bearer;
}

/** Stores a token until validUntilMs. Returns false when another writer got there first. */
export function storeEntry(key: CacheKey, token: string, validUntilMs: u64, cas: u32): bool {
  if (token.length > MAX_CACHED_TOKEN) return false;
  const t = latin1Encode(token);
  const buf = new ArrayBuffer(HEADER + t.byteLength);
  const e = new DataView(buf);
  e.setUint8(0, VERSION);
  const d = new DataView(key.digest);
  for (let i = 0; i < 32; i++) e.setUint8(1 + i, d.getUint8(i));
  e.setUint64(33, validUntilMs, true);
  memory.copy(changetype<usize>(buf) + HEADER, changetype<usize>(t), <usize>t.byteLength);
  return sharedSet(key.slotKey, buf, cas) == WasmResult.Ok;
}

/**
 * Remembers for FAILING_MS that the BFF answered 502 for this session (its
 * token expired and the provider cannot refresh it, or it is backing off): the
 * session's requests meanwhile get 503 without a BFF call each, so an outage
 * of the provider costs one call per session per second, not one per request.
 */
export function storeFailing(key: CacheKey, nowMs: u64, cas: u32): bool {
  const buf = new ArrayBuffer(HEADER);
  const e = new DataView(buf);
  e.setUint8(0, FAILING);
  const d = new DataView(key.digest);
  for (let i = 0; i < 32; i++) e.setUint8(1 + i, d.getUint8(i));
  e.setUint64(33, nowMs + FAILING_MS, true);
  return sharedSet(key.slotKey, buf, cas) == WasmResult.Ok;
}

/** Entry lifetime (docs/architecture.md#token-cache): min(expires_in - skew, max_ttl); 0 = do not cache. */
export function ttlMs(expiresInS: u64, skewS: u32, maxTtlS: u32): u64 {
  if (expiresInS <= <u64>skewS) return dueTtlMs(expiresInS, maxTtlS);
  let s = expiresInS - <u64>skewS;
  if (s > <u64>maxTtlS) s = <u64>maxTtlS;
  return s * 1000;
}

/**
 * Entry lifetime of a token the BFF handed out within the skew, i.e. while its
 * refresh is failing or under way: half of what is left of it, at least 1 s,
 * never closer than 1 s to its expiry, at most max_ttl. The BFF is asked again
 * a few times before the token expires (each time it may have refreshed), not
 * on every request: not caching it at all made every request of the session a
 * BFF call until the refresh succeeded — a call rate that grows with the load
 * (the herd after a slow or failing OP token endpoint, test/chaos `op-token-*`).
 */
export function dueTtlMs(expiresInS: u64, maxTtlS: u32): u64 {
  if (expiresInS <= 1) return 0;
  const left = (expiresInS - 1) * 1000;
  let ms = left / 2;
  if (ms < 1000) ms = 1000;
  if (ms > left) ms = left;
  const max = <u64>maxTtlS * 1000;
  return ms < max ? ms : max;
}
