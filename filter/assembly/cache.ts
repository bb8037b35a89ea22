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

/** A token entry: header, then the header value "Bearer <token>" as it is set (version 1 held the bare token). */
const VERSION: u8 = 3;
/** An entry that holds no token: the BFF answered 502 (provider unavailable) for this session. */
const FAILING: u8 = 2;
/** How long a 502 from the BFF is answered from the cache (503) instead of asking again. */
export const FAILING_MS: u64 = 1000;
const BEARER = String.UTF8.encode("Bearer ");
const BEARER_LEN = 7;
const HEADER = 1 + 32 + 8;
/** Tokens longer than this are used but not cached (keeps the table's memory bounded). */
export const MAX_CACHED_TOKEN = 8192;

// A cache hit allocates nothing: this request's key is built in scratch memory
// (wasm runs one callback at a time per VM), and kept as a CacheKey only on a
// miss, which outlives the callback; an entry holds the whole header value
// ("Bearer <token>"), so the host's copy of it is set as the header in place.
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
export function computeKey(appId: ArrayBuffer, sidPtr: usize, sidLen: usize, slots: u32): void {
  assert(appId.byteLength <= 63 && sidLen <= <usize>MAX_SESSION_ID);
  const p = KEY_IN;
  const idLen = <usize>appId.byteLength;
  memory.copy(p, changetype<usize>(appId), idLen);
  store<u8>(p + idLen, 0x0a);
  memory.copy(p + idLen + 1, sidPtr, sidLen);
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

// The VM's own copy of the entries it found lately (one VM per worker thread):
// a shared-data read costs Envoy a lock, a copy of the entry and a call back
// into the VM to allocate it (~9 µs per hit measured in Envoy 1.40, the
// largest part of a hit), while this table is plain wasm memory. A local entry
// is a copy of a shared one, with the same digest and the same expiry: it
// answers exactly what the shared entry answered, never for longer, so the
// logout bound (max_ttl_s) and "a collision is a miss" hold unchanged. Direct-
// mapped by the digest, so its memory is bounded: LOCAL_SLOTS x (entry size),
// at most LOCAL_SLOTS x (41 + 7 + MAX_CACHED_TOKEN) bytes per VM.
export const LOCAL_SLOTS: u32 = 512;

class LocalEntry {
  /** The entry as it was read from shared data: header (kind, digest, expiry), then "Bearer <token>". */
  constructor(public bytes: ArrayBuffer) {}
}

const LOCAL = new StaticArray<LocalEntry | null>(<i32>LOCAL_SLOTS);
/** The entry that answered the last lookup: the local copy (hitFrom == 1) or the host's block (2). */
let hitFrom: u8 = 0;
let hitLocal: LocalEntry | null = null;

function localIndex(): i32 {
  // Bits of the digest other than the shared slot's (its first 32): two sessions
  // that share a shared-data slot rarely share a local one too.
  return <i32>(load<u32>(DIGEST + 4) & (LOCAL_SLOTS - 1));
}

/** Whether `p` (an entry's bytes) is a fresh token entry for the key computed last. */
function freshToken(p: usize, size: usize, nowMs: u64): bool {
  if (size <= <usize>(HEADER + BEARER_LEN) || load<u8>(p) != VERSION) return false;
  let diff: u32 = 0;
  for (let i: usize = 0; i < 32; i++) diff |= <u32>(load<u8>(p + 1 + i) ^ load<u8>(DIGEST + i));
  return (
    diff == 0 &&
    nowMs < load<u64>(p + 33) &&
    memory.compare(p + HEADER, changetype<usize>(BEARER), BEARER_LEN) == 0
  );
}

/**
 * Whether a fresh token for the key computed last is at hand, first in this
 * VM's own copy, then in the shared slot; its "Bearer <token>" bytes are then
 * at hitPtr()/hitLen() until release(). Sets lookupCas and lookupFailing (from
 * the shared slot: a local hit leaves them 0 and false).
 */
export function lookup(nowMs: u64): bool {
  lookupCas = 0;
  lookupFailing = false;
  release();
  const li = localIndex();
  const l = unchecked(LOCAL[li]);
  if (l !== null && freshToken(changetype<usize>(l.bytes), <usize>l.bytes.byteLength, nowMs)) {
    hitFrom = 1;
    hitLocal = l;
    return true;
  }
  const v = SHARED;
  if (!sharedGetInto(v, SLOT_KEY, slotKeyLen)) return false;
  lookupCas = v.cas;
  if (v.size >= <usize>HEADER && v.equalsAtPtr(1, DIGEST, 32) && nowMs < v.u64At(33)) {
    if (freshToken(v.ptr, v.size, nowMs)) {
      const copy = new ArrayBuffer(<i32>v.size);
      memory.copy(changetype<usize>(copy), v.ptr, v.size);
      LOCAL[li] = new LocalEntry(copy);
      hitFrom = 2;
      return true;
    }
    if (v.u8At(0) == FAILING) lookupFailing = true;
  }
  v.free();
  return false;
}

/** Where the header value of the last lookup's hit is (valid until release() or the next lookup). */
export function hitPtr(): usize {
  if (hitFrom == 1) return changetype<usize>(hitLocal!.bytes) + <usize>HEADER;
  return SHARED.ptr + <usize>HEADER;
}

export function hitLen(): usize {
  if (hitFrom == 1) return <usize>hitLocal!.bytes.byteLength - <usize>HEADER;
  return SHARED.size - <usize>HEADER;
}

/** Lets go of the entry the last lookup found (frees the host's copy). */
export function release(): void {
  SHARED.free();
  hitFrom = 0;
  hitLocal = null;
}

/** Stores a token until validUntilMs. Returns false when another writer got there first. */
export function storeEntry(key: CacheKey, token: string, validUntilMs: u64, cas: u32): bool {
  if (token.length > MAX_CACHED_TOKEN) return false;
  const t = latin1Encode(token);
  const buf = new ArrayBuffer(HEADER + BEARER_LEN + t.byteLength);
  const e = new DataView(buf);
  e.setUint8(0, VERSION);
  const d = new DataView(key.digest);
  for (let i = 0; i < 32; i++) e.setUint8(1 + i, d.getUint8(i));
  e.setUint64(33, validUntilMs, true);
  memory.copy(changetype<usize>(buf) + HEADER, changetype<usize>(BEARER), BEARER_LEN);
  memory.copy(changetype<usize>(buf) + HEADER + BEARER_LEN, changetype<usize>(t), <usize>t.byteLength);
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
