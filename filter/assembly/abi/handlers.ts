// Handler classes the policy code implements, and the context registries
// the ABI entry points dispatch through.
export const enum Action {
  Continue = 0,
  Pause = 1,
}

export abstract class StreamHandler {
  abstract onRequestHeaders(endOfStream: bool): Action;
  /** The stream is gone (done/delete): drop any pending work for it. */
  abstract onDelete(): void;
}

export abstract class RootHandler {
  abstract onConfigure(config: ArrayBuffer): bool;
  abstract newStream(contextId: u32): StreamHandler;
  abstract onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32): void;
}

type RootFactory = (contextId: u32) => RootHandler;

export let rootFactory: RootFactory | null = null;
export const roots = new Map<u32, RootHandler>();
export const streams = new Map<u32, StreamHandler>();

export function setRootFactory(f: RootFactory): void {
  rootFactory = f;
}
