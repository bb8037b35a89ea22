// A proxy-wasm ABI 0.2.1 host on Node's WebAssembly (same V8 engine as Envoy),
// implementing the subset session-to-token uses: header maps, shared data
// with CAS, an HTTP-call queue the test answers, metrics, logs, route
// metadata (proxy_get_property), effective context and local responses. For
// fast unit/property tests and the micro-benchmark; the real-Envoy
// integration tests are the other evidence.

import {
  BufferType,
  decodePairs,
  encodePairs,
  fromLatin1,
  type HeaderPair,
  latin1,
  MapType,
  WasmResult,
} from "./abi.js";
import { isModule, WA, type WasmInstance, type WasmMemory, type WasmModule } from "./wasm.js";

export type { HeaderPair } from "./abi.js";

export interface LocalResponse {
  status: number;
  details: string;
  body: string;
  headers: HeaderPair[];
}

export interface PendingCall {
  token: number;
  cluster: string;
  headers: HeaderPair[];
  timeoutMs: number;
  contextId: number;
}

export interface Outcome {
  contextId: number;
  /** Request headers as the filter left them. */
  headers: HeaderPair[];
  /** "continue": forwarded upstream; "local": answered by the filter; "paused": waiting for an HTTP call. */
  state: "continue" | "local" | "paused";
  local?: LocalResponse;
  call?: PendingCall;
  /** First value of a request header (lower-case name), as forwarded. */
  header(name: string): string | undefined;
  /** All values of a request header. */
  all(name: string): string[];
}

export interface CallAnswer {
  status: number;
  headers?: HeaderPair[];
  body?: string;
}

export interface HostOptions {
  /** Clusters proxy_http_call accepts; undefined = any. */
  clusters?: string[];
  /** Start of the fake clock (ms since epoch). */
  nowMs?: number;
}

/**
 * Per-request host data. `routeMetadata`: the matched route's
 * `metadata.filter_metadata` (namespace -> key -> leaf), read as Envoy answers
 * proxy_get_property(["xds","route_metadata","filter_metadata",ns,key]): a
 * string leaf as its bytes, a Uint8Array as given (e.g. a number's encoding).
 */
export interface RequestOptions {
  routeMetadata?: Record<string, Record<string, string | Uint8Array>>;
}

export interface Host {
  configure(configJson: string): boolean;
  request(headers: HeaderPair[] | Record<string, string>, opts?: RequestOptions): Outcome;
  answerHttpCall(token: number, answer: CallAnswer | null): Outcome;
  /** Client went away while the call was pending. */
  abandon(outcome: Outcome): void;
  pendingCalls: Map<number, PendingCall>;
  metrics: Map<string, number>;
  logs: { level: number; message: string }[];
  shared: Map<string, { value: Uint8Array; cas: number }>;
  clock: { nowMs: number };
  memoryBytes(): number;
}

interface StreamState {
  outcome: Outcome;
  headers: HeaderPair[];
  opts: RequestOptions;
}

/** A property of a stream, as Envoy 1.40 resolves the paths this host knows (else undefined = NotFound). */
function property(path: string[], opts: RequestOptions): Uint8Array | undefined {
  const [a, b, c, ns, k, ...rest] = path;
  if (a !== "xds" || b !== "route_metadata" || c !== "filter_metadata" || rest.length > 0) return undefined;
  if (ns === undefined || k === undefined) return undefined;
  const v = opts.routeMetadata?.[ns]?.[k];
  return typeof v === "string" ? Buffer.from(v, "utf8") : v;
}

const ROOT_ID = 1;

export async function createHost(
  wasm: Uint8Array | WasmModule,
  configJson: string,
  opts: HostOptions = {},
): Promise<Host & { configured: boolean }> {
  const module = isModule(wasm) ? wasm : await WA.compile(wasm);
  let instance: WasmInstance;
  const mem = () => new Uint8Array((instance.exports.memory as WasmMemory).buffer);
  const dv = () => new DataView((instance.exports.memory as WasmMemory).buffer);
  const read = (ptr: number, len: number) => mem().slice(ptr, ptr + len);
  const readUtf8 = (ptr: number, len: number) => Buffer.from(read(ptr, len)).toString("utf8");

  const logs: Host["logs"] = [];
  const metrics = new Map<string, number>();
  const metricNames: string[] = [];
  const shared: Host["shared"] = new Map();
  const pendingCalls = new Map<number, PendingCall>();
  const streams = new Map<number, StreamState>();
  const clock = { nowMs: opts.nowMs ?? Date.now() };
  let current = ROOT_ID;
  let nextContext = 2;
  let nextToken = 1;
  let pluginConfig = Buffer.from(configJson, "utf8");
  let callResponse: { headers: HeaderPair[]; body: Uint8Array } | null = null;

  /** Copies bytes into wasm memory through the module's allocator and writes ptr/size. */
  const give = (bytes: Uint8Array, retPtr: number, retSize: number) => {
    const alloc = instance.exports.proxy_on_memory_allocate as (n: number) => number;
    const p = alloc(bytes.length);
    mem().set(bytes, p);
    dv().setUint32(retPtr, p, true);
    dv().setUint32(retSize, bytes.length, true);
  };

  const mapFor = (type: number): HeaderPair[] | null => {
    if (type === MapType.RequestHeaders) return streams.get(current)?.headers ?? null;
    if (type === MapType.HttpCallResponseHeaders) return callResponse?.headers ?? null;
    return null;
  };
  const key = (p: number, n: number) => fromLatin1(read(p, n)).toLowerCase();

  const env = {
    proxy_log(level: number, p: number, n: number) {
      logs.push({ level, message: readUtf8(p, n) });
      return WasmResult.Ok;
    },
    proxy_get_current_time_nanoseconds(ret: number) {
      dv().setBigUint64(ret, BigInt(Math.floor(clock.nowMs)) * 1_000_000n, true);
      return WasmResult.Ok;
    },
    proxy_get_buffer_bytes(type: number, start: number, max: number, retPtr: number, retSize: number) {
      let b: Uint8Array | null = null;
      if (type === BufferType.PluginConfiguration) b = pluginConfig;
      else if (type === BufferType.HttpCallResponseBody && callResponse) b = callResponse.body;
      if (!b) return WasmResult.NotFound;
      give(b.subarray(start, start + max), retPtr, retSize);
      return WasmResult.Ok;
    },
    proxy_get_header_map_pairs(type: number, retPtr: number, retSize: number) {
      const m = mapFor(type);
      if (!m) return WasmResult.NotFound;
      give(encodePairs(m), retPtr, retSize);
      return WasmResult.Ok;
    },
    proxy_get_header_map_value(type: number, kp: number, kn: number, retPtr: number, retSize: number) {
      const m = mapFor(type);
      const k = key(kp, kn);
      const hit = m?.find(([n]) => n === k);
      if (!hit) return WasmResult.NotFound;
      give(latin1(hit[1]), retPtr, retSize);
      return WasmResult.Ok;
    },
    proxy_add_header_map_value(type: number, kp: number, kn: number, vp: number, vn: number) {
      const m = mapFor(type);
      if (!m) return WasmResult.NotFound;
      m.push([key(kp, kn), fromLatin1(read(vp, vn))]);
      return WasmResult.Ok;
    },
    proxy_replace_header_map_value(type: number, kp: number, kn: number, vp: number, vn: number) {
      const m = mapFor(type);
      if (!m) return WasmResult.NotFound;
      const k = key(kp, kn);
      const v = fromLatin1(read(vp, vn));
      const i = m.findIndex(([n]) => n === k);
      if (i < 0) m.push([k, v]);
      else {
        m[i] = [k, v];
        for (let j = m.length - 1; j > i; j--) if (m[j][0] === k) m.splice(j, 1);
      }
      return WasmResult.Ok;
    },
    proxy_remove_header_map_value(type: number, kp: number, kn: number) {
      const m = mapFor(type);
      if (!m) return WasmResult.NotFound;
      const k = key(kp, kn);
      for (let j = m.length - 1; j >= 0; j--) if (m[j][0] === k) m.splice(j, 1);
      return WasmResult.Ok;
    },
    proxy_send_local_response(
      status: number,
      dp: number,
      dn: number,
      bp: number,
      bn: number,
      hp: number,
      hn: number,
    ) {
      const s = streams.get(current);
      if (!s) return WasmResult.NotFound;
      s.outcome.state = "local";
      s.outcome.local = {
        status,
        details: readUtf8(dp, dn),
        body: readUtf8(bp, bn),
        headers: decodePairs(read(hp, hn)),
      };
      return WasmResult.Ok;
    },
    proxy_http_call(
      up: number,
      un: number,
      hp: number,
      hn: number,
      _bp: number,
      _bn: number,
      _tp: number,
      _tn: number,
      timeoutMs: number,
      retToken: number,
    ) {
      const cluster = readUtf8(up, un);
      if (opts.clusters && !opts.clusters.includes(cluster)) return WasmResult.BadArgument;
      const token = nextToken++;
      pendingCalls.set(token, {
        token,
        cluster,
        headers: decodePairs(read(hp, hn)),
        timeoutMs,
        contextId: current,
      });
      dv().setUint32(retToken, token, true);
      return WasmResult.Ok;
    },
    proxy_get_shared_data(kp: number, kn: number, retPtr: number, retSize: number, retCas: number) {
      const e = shared.get(readUtf8(kp, kn));
      if (!e) return WasmResult.NotFound;
      give(e.value, retPtr, retSize);
      dv().setUint32(retCas, e.cas, true);
      return WasmResult.Ok;
    },
    proxy_set_shared_data(kp: number, kn: number, vp: number, vn: number, cas: number) {
      const k = readUtf8(kp, kn);
      const e = shared.get(k);
      if (e && cas !== 0 && cas !== e.cas) return WasmResult.CasMismatch;
      shared.set(k, { value: read(vp, vn), cas: (e?.cas ?? 0) + 1 });
      return WasmResult.Ok;
    },
    proxy_define_metric(_type: number, np: number, nn: number, retId: number) {
      const name = readUtf8(np, nn);
      let id = metricNames.indexOf(name);
      if (id < 0) {
        id = metricNames.push(name) - 1;
        metrics.set(name, 0);
      }
      dv().setUint32(retId, id, true);
      return WasmResult.Ok;
    },
    proxy_increment_metric(id: number, offset: bigint) {
      const name = metricNames[id];
      if (name === undefined) return WasmResult.NotFound;
      metrics.set(name, (metrics.get(name) ?? 0) + Number(offset));
      return WasmResult.Ok;
    },
    proxy_get_property(pp: number, pn: number, retPtr: number, retSize: number) {
      const s = streams.get(current);
      const v = s ? property(readUtf8(pp, pn).split("\0"), s.opts) : undefined;
      if (v === undefined) return WasmResult.NotFound;
      give(v, retPtr, retSize);
      return WasmResult.Ok;
    },
    proxy_set_effective_context(id: number) {
      if (id !== ROOT_ID && !streams.has(id)) return WasmResult.BadArgument;
      current = id;
      return WasmResult.Ok;
    },
    proxy_continue_stream(_type: number) {
      const s = streams.get(current);
      if (!s) return WasmResult.NotFound;
      if (s.outcome.state === "paused") s.outcome.state = "continue";
      return WasmResult.Ok;
    },
  };

  instance = await WA.instantiate(module, { env });
  const ex = instance.exports as Record<string, (...a: number[]) => number>;
  ex._initialize?.();
  ex.proxy_on_context_create(ROOT_ID, 0);
  ex.proxy_on_vm_start(ROOT_ID, 0);

  const configure = (json: string) => {
    pluginConfig = Buffer.from(json, "utf8");
    current = ROOT_ID;
    return ex.proxy_on_configure(ROOT_ID, pluginConfig.length) === 1;
  };

  const finish = (s: StreamState) => {
    if (s.outcome.state === "paused") return;
    const id = s.outcome.contextId;
    current = id;
    // Optional callbacks, as in Envoy's host: called only when the module exports them.
    ex.proxy_on_done?.(id);
    ex.proxy_on_log?.(id);
    ex.proxy_on_delete(id);
    streams.delete(id);
    current = ROOT_ID;
  };

  const request = (input: HeaderPair[] | Record<string, string>, opts: RequestOptions = {}): Outcome => {
    const headers: HeaderPair[] = Array.isArray(input)
      ? input.map(([k, v]) => [k.toLowerCase(), v])
      : Object.entries(input).map(([k, v]) => [k.toLowerCase(), v]);
    const id = nextContext++;
    const outcome: Outcome = {
      contextId: id,
      headers,
      state: "paused",
      header: (n) => headers.find(([k]) => k === n)?.[1],
      all: (n) => headers.filter(([k]) => k === n).map(([, v]) => v),
    };
    const s: StreamState = { outcome, headers, opts };
    streams.set(id, s);
    ex.proxy_on_context_create(id, ROOT_ID);
    current = id;
    const action = ex.proxy_on_request_headers(id, headers.length, 1);
    current = ROOT_ID;
    if (outcome.state === "paused") {
      if (action === 0) outcome.state = "continue";
      else outcome.call = [...pendingCalls.values()].find((c) => c.contextId === id);
    }
    finish(s);
    return outcome;
  };

  const answerHttpCall = (token: number, answer: CallAnswer | null): Outcome => {
    const call = pendingCalls.get(token);
    if (!call) throw new Error(`no pending call ${token}`);
    pendingCalls.delete(token);
    const s = streams.get(call.contextId);
    callResponse = answer
      ? {
          headers: [[":status", String(answer.status)], ...(answer.headers ?? [])],
          body: Buffer.from(answer.body ?? "", "utf8"),
        }
      : { headers: [], body: new Uint8Array(0) };
    current = ROOT_ID;
    ex.proxy_on_http_call_response(ROOT_ID, token, callResponse.headers.length, callResponse.body.length, 0);
    callResponse = null;
    current = ROOT_ID;
    if (!s) throw new Error(`stream ${call.contextId} is gone`);
    finish(s);
    return s.outcome;
  };

  const abandon = (o: Outcome) => {
    const s = streams.get(o.contextId);
    if (!s) return;
    // Envoy cancels a destroyed stream's outstanding HTTP calls: drop them too,
    // or pendingCalls (scanned on every paused request) grows for ever.
    for (const [token, call] of pendingCalls) if (call.contextId === o.contextId) pendingCalls.delete(token);
    current = o.contextId;
    ex.proxy_on_done?.(o.contextId);
    ex.proxy_on_delete(o.contextId);
    streams.delete(o.contextId);
    current = ROOT_ID;
  };

  const configured = configure(configJson);
  return {
    configured,
    configure,
    request,
    answerHttpCall,
    abandon,
    pendingCalls,
    metrics,
    logs,
    shared,
    clock,
    memoryBytes: () => (instance.exports.memory as WasmMemory).buffer.byteLength,
  };
}
