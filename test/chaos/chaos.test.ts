// The chaos machinery on one cheap scenario, so CI covers it: the real stack
// (Envoy over ADS from two xds-servers, two BFF processes, Redis with AOF, the
// OP, a JWT-verifying upstream), steady load, Redis SIGKILLed and restarted;
// then, on the same stack, the OP's JWKS down while its signing key rotates.
// `npm run chaos` runs every scenario and writes the figures.
import { type AddressInfo, connect, createServer } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { startOP, waitFor } from "../harness/index.js";
import { budget } from "../harness/slowness.js";
import { startBalancer } from "./lib/balancer.js";
import { twoReplicaBootstrap } from "./lib/envoy.js";
import { runScenario, type ScenarioResult } from "./lib/scenario.js";
import { SCENARIOS } from "./lib/scenarios.js";
import { stackOptions, TIMING } from "./lib/settings.js";
import { type Stack, startStack } from "./lib/stack.js";

let stack: Stack;

describe("chaos: Redis killed and restarted under load", () => {
  let r: ScenarioResult;

  beforeAll(async () => {
    stack = await startStack(stackOptions(true, () => {}));
    r = await runScenario(stack, SCENARIOS.find((s) => s.name === "redis")!, TIMING.quick, () => {});
  }, budget(240_000));

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

describe("chaos: the OP's JWKS down while its signing key rotates, on the same stack", () => {
  let r: ScenarioResult;

  beforeAll(async () => {
    r = await runScenario(stack, SCENARIOS.find((s) => s.name === "jwks-rotation")!, TIMING.quick, () => {});
  }, budget(240_000));

  it("jwt_authn fails closed: tokens of the new key refused (401) until the JWKS is back and fetched again, then served", () => {
    expect(r.classes.session.statuses["401"] ?? 0).toBeGreaterThan(0);
    expect(r.figures.jwksFetchedAfterBackMs).not.toBeNull();
    expect(r.classes.session.recoveryMs).not.toBeNull();
    expect(r.sessions.lost).toEqual([]);
  });

  it("invariant 6 under key rotation: no request with an invalid token reached the upstream; every forged token refused", () => {
    expect(r.upstream.received).toBeGreaterThan(0);
    expect(r.upstream.violations).toBe(0);
    expect(r.figures.forgedTokensSent).toBeGreaterThan(0);
    expect(r.figures.forgedTokensRefused).toBe(r.figures.forgedTokensSent);
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

describe("chaos: the slow-part fakes", () => {
  it("the delaying balancer holds every reply by delayMs, in order, and passes them at once when 0", async () => {
    const echo = createServer((s) => s.on("data", (d) => s.write(d)));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
    const b = await startBalancer([(echo.address() as AddressInfo).port]);
    const c = connect(b.port, "127.0.0.1");
    let got = "";
    c.on("data", (d) => (got += d));
    b.delayMs = 300;
    const t0 = Date.now();
    c.write("a");
    c.write("b");
    await waitFor("the delayed replies", async () => got === "ab");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    b.delayMs = 0;
    c.write("c");
    await waitFor("the undelayed reply", async () => got === "abc");
    c.destroy();
    await b.stop();
    echo.close();
  });

  it("the OP's token fault answers what it is told (5xx, malformed JSON) and the OP answers again when cleared", async () => {
    const op = await startOP({
      clients: [{ client_id: "c", client_secret: "s", redirect_uris: ["http://x.test/cb"] }],
    });
    const token = () =>
      fetch(`${op.issuer}/token`, { method: "POST", body: "grant_type=refresh_token&refresh_token=x" });
    op.tokenFault = { status: 500, contentType: "text/html", body: "boom" };
    const r1 = await token();
    expect([r1.status, await r1.text()]).toEqual([500, "boom"]);
    op.tokenFault = { status: 200, body: '{"access_token":' };
    const r2 = await token();
    expect(r2.status).toBe(200);
    await expect(r2.json()).rejects.toThrow();
    op.tokenFault = null;
    const r3 = await token();
    expect(r3.status).toBe(400); // the real OP: no client authentication
    await op.stop();
  });
});
