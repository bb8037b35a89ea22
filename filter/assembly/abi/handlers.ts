// Handler classes the policy code implements, and the context registries the
// ABI entry points dispatch through. As in proxy-wasm-rust-sdk's dispatcher.rs,
// an HTTP call is registered to the stream that made it, and its answer is
// routed back to that stream, on that stream's context.
import { Header, httpCall } from "./host";

export const enum Action {
  Continue = 0,
  Pause = 1,
}

export abstract class StreamHandler {
  /** The HTTP call this stream waits for (0: none). Kept by the dispatcher, not the policy. */
  calloutToken: u32 = 0;

  constructor(readonly contextId: u32) {}

  abstract onRequestHeaders(endOfStream: bool): Action;

  /**
   * The answer to this stream's dispatchHttpCall, called on the stream's own
   * context: `status` is the `:status` header, "" when there was no answer
   * (timeout, reset, unknown cluster); `body` is null then.
   */
  onHttpCallResponse(_status: string, _body: ArrayBuffer | null): void {}

  /** The stream is gone (done/delete): a call still pending is forgotten by the dispatcher. */
  onDelete(): void {}

  /**
   * Starts an HTTP call whose answer comes back to this stream's
   * onHttpCallResponse; false when the host refused it.
   */
  dispatchHttpCall(cluster: string, headers: Header[], timeoutMs: u32): bool {
    const token = httpCall(cluster, headers, timeoutMs);
    if (token == 0) return false;
    callouts.set(token, this.contextId);
    this.calloutToken = token;
    return true;
  }
}

export abstract class RootHandler {
  abstract onConfigure(config: ArrayBuffer): bool;
  abstract newStream(contextId: u32): StreamHandler;
}

type RootFactory = (contextId: u32) => RootHandler;

export let rootFactory: RootFactory | null = null;
export const roots = new Map<u32, RootHandler>();
export const streams = new Map<u32, StreamHandler>();
/** HTTP call token → the context id of the stream that made the call. */
export const callouts = new Map<u32, u32>();

export function setRootFactory(f: RootFactory): void {
  rootFactory = f;
}
