// The app of a request. The control plane puts each app's settings on the
// app's routes (route metadata, filter_metadata "sessiongate", key "app": one
// JSON string), so the plugin configuration lists no apps and stays the same
// when an app changes: no VM reconfiguration per change. Routes without that
// metadata (static configs) fall back to the plugin's `apps` list, matched by
// host and path (matchAppAt).
import { getPropertyInto, HostBytes, LogLevel, log, propertyPath } from "./abi/host";
import { AppConfig, AppResult, Config, parseRouteApp } from "./config";

export const ROUTE_NAMESPACE = "sessiongate";
export const ROUTE_KEY = "app";

const PATH = propertyPath(["xds", "route_metadata", "filter_metadata", ROUTE_NAMESPACE, ROUTE_KEY]);

// Distinct values are about one per app; old ones stay behind when apps
// change, so the table is emptied when it reaches this size (a bound, not a
// working set: the next requests parse their value once again).
const MAX_ENTRIES = 16384;

/** FNV-1a over the `len` bytes at `p`: the table's bucket, never trusted alone (entries compare their bytes). */
function fnv1a(p: usize, len: usize): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: usize = 0; i < len; i++) h = (h ^ <u32>load<u8>(p + i)) * 0x01000193;
  return h;
}

class RouteEntry {
  constructor(
    public bytes: ArrayBuffer,
    public result: AppResult,
  ) {}
}

const RAW = new HostBytes();

export class RouteApps {
  /** The parsed values by a hash of their bytes; a bucket's entries are told apart by their bytes. */
  private parsed: Map<u32, RouteEntry[]> = new Map<u32, RouteEntry[]>();
  private size: i32 = 0;

  /**
   * The matched route's app (parsed once per distinct value), an AppResult
   * with `app === null` and the problem when the metadata is malformed, or
   * null when the route carries none. A request costs the property read, a
   * hash and a compare of its bytes: no copy, no decoding.
   */
  lookup(): AppResult | null {
    const raw = RAW;
    if (!getPropertyInto(PATH, raw)) return null;
    const p = raw.ptr;
    const len = raw.size;
    const h = fnv1a(p, len);
    let bucket: RouteEntry[] | null = null;
    if (this.parsed.has(h)) {
      bucket = this.parsed.get(h);
      for (let i = 0; i < bucket.length; i++) {
        const e = unchecked(bucket[i]);
        if (<usize>e.bytes.byteLength == len && memory.compare(changetype<usize>(e.bytes), p, len) == 0) {
          raw.free();
          return e.result;
        }
      }
    }
    const bytes = new ArrayBuffer(<i32>len);
    memory.copy(changetype<usize>(bytes), p, len);
    raw.free();
    const r = parseRouteApp(String.UTF8.decode(bytes));
    // Logged when first seen, not per request: a broken route must not flood the log.
    if (r.app === null) log(LogLevel.Error, "session-to-token: " + r.error);
    if (this.size >= MAX_ENTRIES) {
      this.parsed.clear();
      this.size = 0;
      bucket = null;
    }
    if (bucket === null) {
      bucket = [];
      this.parsed.set(h, bucket);
    }
    bucket.push(new RouteEntry(bytes, r));
    this.size++;
    return r;
  }
}

/** Whether the `len` bytes at `p` equal the lower-case ASCII `lower`, ASCII case-insensitively. */
function equalsLowerAt(p: usize, len: usize, lower: ArrayBuffer): bool {
  if (<usize>lower.byteLength != len) return false;
  const q = changetype<usize>(lower);
  for (let i: usize = 0; i < len; i++) {
    let c = <u32>load<u8>(p + i);
    if (c - 0x41 < 26) c += 0x20;
    if (c != <u32>load<u8>(q + i)) return false;
  }
  return true;
}

/**
 * Whether the :path (query included) of `len` bytes at `p` lies under `prefix`
 * the way the control plane's routes match (path_separated_prefix): "/api"
 * matches "/api", "/api/x" and "/api?q", never "/apiary". A prefix ending in
 * '/' matches below it.
 */
function underPrefixAt(p: usize, len: usize, prefix: ArrayBuffer): bool {
  const n = <usize>prefix.byteLength;
  if (len < n || memory.compare(p, changetype<usize>(prefix), n) != 0) return false;
  if (len == n || load<u8>(changetype<usize>(prefix) + n - 1) == 0x2f) return true;
  const c = load<u8>(p + n);
  return c == 0x2f || c == 0x3f; // '/' or '?'
}

/**
 * Picks the app for a request: host match ("*" or exact, case-insensitive),
 * longest path prefix, exact host over "*". Over the :authority and :path
 * bytes read in place (the header block): no string decoded or lower-cased per
 * request (hosts are visible ASCII, so ASCII case-folding is enough).
 */
export function matchAppAt(
  c: Config,
  authPtr: usize,
  authLen: usize,
  pathPtr: usize,
  pathLen: usize,
): AppConfig | null {
  let best: AppConfig | null = null;
  let bestLen = -1;
  let bestExact = false;
  for (let i = 0; i < c.apps.length; i++) {
    const app = unchecked(c.apps[i]);
    let exact = false;
    for (let j = 0; j < app.hostBytes.length; j++) {
      if (equalsLowerAt(authPtr, authLen, unchecked(app.hostBytes[j]))) {
        exact = true;
        break;
      }
    }
    if (!exact && !app.anyHost) continue;
    if (!underPrefixAt(pathPtr, pathLen, app.pathPrefixBytes)) continue;
    const len = app.pathPrefixBytes.byteLength;
    if (len > bestLen || (len == bestLen && exact && !bestExact)) {
      best = app;
      bestLen = len;
      bestExact = exact;
    }
  }
  return best;
}
