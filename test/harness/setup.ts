// vitest setupFiles entry: stop every process a test file started, and keep
// their logs only when one of its tests failed.
import { afterAll, afterEach } from "vitest";
import { stopAll } from "./cleanup.js";

let failed = false;
afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") failed = true;
});
afterAll(async () => {
  await stopAll(failed);
});
