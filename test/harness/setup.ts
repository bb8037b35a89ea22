// vitest setupFiles entry: stop every process a test file started, and keep
// their logs only when something in the file did not pass.
import { afterAll, afterEach } from "vitest";
import { stopAll } from "./cleanup.js";

interface TaskLike {
  type?: string;
  mode?: string;
  result?: { state?: string };
  tasks?: TaskLike[];
}

/** A failed hook leaves its suite "fail" and its tests unrun: both count. */
function notPassed(task: TaskLike): boolean {
  if (task.result?.state === "fail") return true;
  if (task.type === "test" && task.mode === "run" && task.result?.state !== "pass") return true;
  return (task.tasks ?? []).some(notPassed);
}

let failed = false;
afterEach((ctx) => {
  if (ctx.task.result?.state === "fail") failed = true;
});
// vitest passes the file's suite as the hook's second argument; the first must be
// an object pattern.
// biome-ignore lint/correctness/noEmptyPattern: vitest's fixture parser requires a pattern here
afterAll(async ({}, suite) => {
  await stopAll(failed || notPassed(suite as unknown as TaskLike));
});
