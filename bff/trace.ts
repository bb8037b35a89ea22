// The W3C trace context of the browser request being handled, for the calls
// it makes on its behalf: a code exchange or refresh at the OP goes out with a
// child `traceparent` (same trace id, a new span id), so the provider's logs
// join the trace. Kept in AsyncLocalStorage: the OIDC layer need not thread it
// through every signature, and a call outside any request (discovery warm-up)
// simply carries none.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { type ChildSpan, childSpan } from "../contracts/trace.js";

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with the caller's `traceparent` (if it is a valid one) as the current trace. */
export function withTrace<T>(traceparent: unknown, fn: () => T): T {
  return typeof traceparent === "string" ? current.run(traceparent, fn) : fn();
}

function newSpanId(): string {
  for (;;) {
    const id = randomBytes(8).toString("hex");
    if (id !== "0000000000000000") return id;
  }
}

/** A new child span of the current request's trace, or null outside a traced request. */
export function startChildSpan(): ChildSpan | null {
  return childSpan(current.getStore(), newSpanId);
}
