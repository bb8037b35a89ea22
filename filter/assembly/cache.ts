// Token cache in proxy-wasm shared data (one table for all workers of the VM).
// Shared data has no delete, so the cache is a direct-mapped table of
// `slots` keys ("s2t:<index>"): memory is bounded by slots x entry size,
// whatever the number of sessions. Each entry carries the SHA-256 of
// (app id, session id) and is only returned when that digest matches, so a
// slot collision is a miss, never another session's token. Writes use the
// CAS value read at lookup time: a concurrent writer wins, we just skip.
import { latin1Encode, SharedBlock, sharedGet, sharedSet, WasmResult } from "./abi/host";
import { sha256 } from "./sha256";

const VERSION: u8 = 1;
/** An entry that holds no token: the BFF answered 502 (provider unavailable) for this session. */
const FAILING: u8 = 2;
/** How long a 502 from the BFF is answered from the cache (503) instead of asking again. */
export const FAILING_MS: u64 = 1000;
const BEARER = String.UTF8.encode("Bearer ");
const HEADER = 1 + 32 + 8;
/** Tokens longer than this are used but not cached (keeps the table's memory bounded). */
export const MAX_CACHED_TOKEN = 8192;

export class CacheKey {
  constructor(
    public digest: ArrayBuffer,
    /** "s2t:<index>" as UTF-8: the shared-data key, encoded once per request. */
    public slotKey: ArrayBuffer,
  ) {}
}

export class Lookup {
  /** "Bearer <token>" bytes when the slot holds a fresh entry for this session, else null. */
  bearer: ArrayBuffer | null = null;
  /** CAS value of the slot as read (0 when empty): used for the write-back. */
  cas: u32 = 0;
  /** The BFF could not get this session a token moments ago (502): fail closed without asking again. */
  failing: bool = false;
}

export function cacheKey(appId: string, sessionId: string, slots: u32): CacheKey {
  const digest = sha256(String.UTF8.encode(appId + "\n" + sessionId));
  const index = new DataView(digest).getUint32(0, false) % slots;
  return new CacheKey(digest, String.UTF8.encode("s2t:" + index.toString()));
}

export function lookup(key: CacheKey, nowMs: u64): Lookup {
  const r = new Lookup();
  const v: SharedBlock = sharedGet(key.slotKey);
  if (!v.found) return r;
  r.cas = v.cas;
  if (v.size >= <usize>HEADER && v.equalsAt(1, key.digest) && nowMs < v.u64At(33)) {
    const kind = v.u8At(0);
    // The header value is built straight from the host's bytes (no intermediate copy).
    if (kind == VERSION && v.size > <usize>HEADER) r.bearer = v.tailWithPrefix(BEARER, HEADER);
    else if (kind == FAILING) r.failing = true;
  }
  v.free();
  return r;
}

/** Stores a token until validUntilMs. Returns false when another writer got there first. */
export function store(key: CacheKey, token: string, validUntilMs: u64, cas: u32): bool {
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
