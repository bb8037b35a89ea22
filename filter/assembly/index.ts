// session-to-token: proxy-wasm (ABI 0.2.1) HTTP filter entry point.
// The ABI binding lives in ./abi; the policy in ./filter.
export * from "./abi/exports";

import { RootHandler, setRootFactory } from "./abi/handlers";
import { FilterRoot } from "./filter";

setRootFactory((_id: u32): RootHandler => new FilterRoot());
