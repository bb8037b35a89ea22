// session-to-token: proxy-wasm HTTP filter entry point.
export * from "./abi/exports";
import { Action, RootHandler, StreamHandler, setRootFactory } from "./abi/handlers";

class PassStream extends StreamHandler {
  onRequestHeaders(endOfStream: bool): Action { return Action.Continue; }
  onDelete(): void {}
}
class PassRoot extends RootHandler {
  onConfigure(config: ArrayBuffer): bool { return true; }
  newStream(contextId: u32): StreamHandler { return new PassStream(); }
  onHttpCallResponse(token: u32, numHeaders: u32, bodySize: u32): void {}
}
setRootFactory((id: u32): RootHandler => new PassRoot());
