import { defineConfig } from "vitest/config";
import { budget } from "./test/harness/slowness.js";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/harness/setup.ts"],
    // Real processes (Envoy, Redis, an OP) start in many files: two workers on
    // a 2-core machine, and generous timeouts for process start-up.
    pool: "forks",
    maxWorkers: 2,
    // Scaled by the machine's slowness when the run starts (test/harness/slowness.ts).
    testTimeout: budget(60_000),
    hookTimeout: budget(60_000),
    // expect.poll without its own timeout waits 1 s by default: too little on a busy machine.
    expect: { poll: { timeout: budget(5_000) } },
    reporters: ["default"],
  },
});
