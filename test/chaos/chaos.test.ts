// The chaos machinery on one cheap scenario, so CI covers it: the real stack
// (Envoy over ADS from two xds-servers, two BFF processes, Redis with AOF, the
// OP, a JWT-verifying upstream), steady load, Redis SIGKILLed and restarted.
// `npm run chaos` runs every scenario and writes the figures.
import { beforeAll, describe, expect, it } from "vitest";
import { twoReplicaBootstrap } from "./lib/envoy.js";
import { runScenario, type ScenarioResult } from "./lib/scenario.js";
import { SCENARIOS } from "./lib/scenarios.js";
import { stackOptions, TIMING } from "./lib/settings.js";
import { type Stack, startStack } from "./lib/stack.js";

describe("chaos: Redis killed and restarted under load", () => {
  let stack: Stack;
  let r: ScenarioResult;

  beforeAll(async () => {
    stack = await startStack(stackOptions(true, () => {}));
    r = await runScenario(stack, SCENARIOS.find((s) => s.name === "redis")!, TIMING.quick, () => {});
  }, 240_000);

  it("the fault showed: requests failed closed (503) while Redis was down, and traffic was served around it", () => {
    expect(r.classes.session.ok).toBeGreaterThan(0);
    expect(r.classes.session.statuses["503"] ?? 0).toBeGreaterThan(0);
    expect(r.classes.anon.ok).toBeGreaterThan(0);
  });

  it("invariant 6 under faults: no request reached the upstream without a valid token or with the cookie", () => {
    expect(r.upstream.received).toBeGreaterThan(0);
    expect(r.upstream.violations).toBe(0);
    expect(r.upstream.verified).toBe(r.upstream.received);
    expect(r.wrongIdentity).toBe(0);
  });

  it("no session lost: every session works after the restart (AOF), none had its cookie cleared", async () => {
    expect(r.sessions.lost).toEqual([]);
    expect(r.cookieCleared).toBe(0);
    expect(r.classes.session.recoveryMs).not.toBeNull();
  });

  it("no registration lost: the registry lists the same apps at the same revisions", () => {
    expect(r.registry.identical).toBe(true);
    expect(r.registry.apps).toBe(4);
  });

  it("fails closed, never open: no answer other than 401/403/503 while failing", () => {
    expect(r.classes.session.errored).toBe(0);
    expect(r.classes.anon.errored).toBe(0);
    expect(r.goals.every((g) => g.met)).toBe(true);
  });
});

describe("chaos: the two-replica ADS bootstrap", () => {
  it("adds a second ADS endpoint to envoy/gateway-ads.yaml and refuses a file it does not understand", () => {
    const yaml = twoReplicaBootstrap();
    expect(yaml.match(/port_value: \{\{XDS_PORT\}\}/g)).toHaveLength(1);
    expect(yaml.match(/port_value: \{\{XDS_PORT_2\}\}/g)).toHaveLength(1);
    expect(() => twoReplicaBootstrap("node: {}\n")).toThrow(/ADS endpoint block/);
  });
});
