// The process harness: real Redis, Envoy, an OIDC provider and an echo
// upstream on free loopback ports, stopped after each test file.
export { chromiumBin, startBrowser } from "./browser.js";
export { LOG_DIR, onCleanup, stopAll } from "./cleanup.js";
export { type CliResult, runCli } from "./cli.js";
export { type EchoHandle, type EchoRecord, startEcho } from "./echo.js";
export { type EnvoyHandle, type EnvoyOptions, envoyBin, REPO_ROOT, startEnvoy, WASM_PATH } from "./envoy.js";
export { type HostReply, type HostRequestOptions, hostRequest } from "./http.js";
export {
  DEFAULT_USERS,
  type OpCounts,
  type OpHandle,
  type OpOptions,
  type OpUser,
  startOP,
  type TokenFault,
} from "./op.js";
export { CookieJar, type Credentials, completeLogin, OpBrowser } from "./op-browser.js";
export { freePort, StopWaiting, waitFor } from "./ports.js";
export { type ManagedProcess, type ProcessOptions, startProcess } from "./process.js";
export { type RedisHandle, redisBin, startRedis } from "./redis.js";
export { budget, slowness } from "./slowness.js";
export { renderTemplate } from "./template.js";
