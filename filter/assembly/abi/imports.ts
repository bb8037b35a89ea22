// Raw proxy-wasm ABI 0.2.1 host functions (module "env"). Only this folder
// touches pointers; everything else goes through ./host.ts.
// Signatures follow the proxy-wasm spec (abi-versions/v0.2.1).

@external("env", "proxy_log")
export declare function proxy_log(level: i32, ptr: usize, size: usize): u32;

@external("env", "proxy_get_current_time_nanoseconds")
export declare function proxy_get_current_time_nanoseconds(retTime: usize): u32;

@external("env", "proxy_get_buffer_bytes")
export declare function proxy_get_buffer_bytes(bufferType: i32, start: u32, maxSize: u32, retPtr: usize, retSize: usize): u32;

@external("env", "proxy_get_header_map_pairs")
export declare function proxy_get_header_map_pairs(mapType: i32, retPtr: usize, retSize: usize): u32;

@external("env", "proxy_get_header_map_value")
export declare function proxy_get_header_map_value(mapType: i32, keyPtr: usize, keySize: usize, retPtr: usize, retSize: usize): u32;

@external("env", "proxy_add_header_map_value")
export declare function proxy_add_header_map_value(mapType: i32, keyPtr: usize, keySize: usize, valPtr: usize, valSize: usize): u32;

@external("env", "proxy_replace_header_map_value")
export declare function proxy_replace_header_map_value(mapType: i32, keyPtr: usize, keySize: usize, valPtr: usize, valSize: usize): u32;

@external("env", "proxy_remove_header_map_value")
export declare function proxy_remove_header_map_value(mapType: i32, keyPtr: usize, keySize: usize): u32;

@external("env", "proxy_send_local_response")
export declare function proxy_send_local_response(
  statusCode: u32, detailsPtr: usize, detailsSize: usize, bodyPtr: usize, bodySize: usize,
  headersPtr: usize, headersSize: usize, grpcStatus: i32): u32;

@external("env", "proxy_http_call")
export declare function proxy_http_call(
  upstreamPtr: usize, upstreamSize: usize, headersPtr: usize, headersSize: usize,
  bodyPtr: usize, bodySize: usize, trailersPtr: usize, trailersSize: usize,
  timeoutMs: u32, retToken: usize): u32;

@external("env", "proxy_get_shared_data")
export declare function proxy_get_shared_data(keyPtr: usize, keySize: usize, retPtr: usize, retSize: usize, retCas: usize): u32;

@external("env", "proxy_set_shared_data")
export declare function proxy_set_shared_data(keyPtr: usize, keySize: usize, valPtr: usize, valSize: usize, cas: u32): u32;

@external("env", "proxy_define_metric")
export declare function proxy_define_metric(metricType: i32, namePtr: usize, nameSize: usize, retId: usize): u32;

@external("env", "proxy_increment_metric")
export declare function proxy_increment_metric(metricId: u32, offset: i64): u32;

@external("env", "proxy_set_effective_context")
export declare function proxy_set_effective_context(contextId: u32): u32;

@external("env", "proxy_continue_stream")
export declare function proxy_continue_stream(streamType: i32): u32;

@external("env", "proxy_get_property")
export declare function proxy_get_property(pathPtr: usize, pathSize: usize, retPtr: usize, retSize: usize): u32;
