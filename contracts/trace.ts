// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent`
// header (HTTP) or metadata key (gRPC) a caller sends. Both servers log its
// trace and parent ids with their log lines as `trace_id` and `span_id`, so a
// request can be followed across Envoy, the BFF and the xds-server. Anything
// not in the version-00 format (or all-zero ids) is ignored, never logged raw.
const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface TraceIds {
  trace_id: string;
  span_id: string;
}

export function parseTraceparent(v: unknown): TraceIds | null {
  if (typeof v !== "string" || v.length !== 55) return null;
  const m = TRACEPARENT_RE.exec(v);
  if (!m || m[1] === "ff" || /^0+$/.test(m[2]) || /^0+$/.test(m[3])) return null;
  return { trace_id: m[2], span_id: m[3] };
}

/** The ids of a span this process starts under a caller's trace (W3C: same trace id, new span id). */
export interface ChildSpan extends TraceIds {
  parent_span_id: string;
  /** The `traceparent` value to send on: version 00, the caller's trace flags. */
  traceparent: string;
}

export function childSpan(parent: unknown, newSpanId: () => string): ChildSpan | null {
  const ids = parseTraceparent(parent);
  if (!ids) return null;
  const flags = (parent as string).slice(53);
  const span_id = newSpanId();
  return {
    trace_id: ids.trace_id,
    span_id,
    parent_span_id: ids.span_id,
    traceparent: `00-${ids.trace_id}-${span_id}-${flags}`,
  };
}
