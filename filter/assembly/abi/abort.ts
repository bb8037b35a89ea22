// Replacement for AssemblyScript's `env.abort` import (Envoy provides no such
// function, a module importing it does not load). Wired with asc
// `--use abort=filter/assembly/abi/abort/proxyAbort`: logs through proxy_log
// at critical level, then traps so the host sees the failure.
import { proxy_log } from "./imports";

export function proxyAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "session-to-token abort: ";
  if (message !== null) text += message;
  if (fileName !== null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const buf = String.UTF8.encode(text);
  proxy_log(5, changetype<usize>(buf), <usize>buf.byteLength);
  unreachable();
}
