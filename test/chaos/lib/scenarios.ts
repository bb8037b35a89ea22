// The faults. Each kills (SIGKILL, no clean shutdown) or pauses one part of the
// running stack, keeps it down for a while under load, and brings it back.
import { hostRequest, waitFor } from "../../harness/index.js";
import type { FaultOutcome, Scenario, Timing } from "./scenario.js";
import { APP_ID, bffCounter, type Stack } from "./stack.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Holds the fault for `s` seconds from `from`. */
const holdUntil = (from: number, s: number) => sleep(Math.max(0, from + s * 1000 - Date.now()));

/** ms until Envoy's ADS stream is up again (control_plane.connected_state = 1), or null. */
async function adsConnectedAfter(stack: Stack, from: number, maxMs = 30_000): Promise<number | null> {
  try {
    await waitFor(
      "Envoy's ADS stream",
      async () => (await stack.envoy.stats()).get("control_plane.connected_state") === 1,
      maxMs,
      50,
    );
    return Date.now() - from;
  } catch {
    return null;
  }
}

/** ms until the gateway routes `host` (anything but 404) — or stops routing it (`gone`). */
async function routedAfter(stack: Stack, host: string, from: number, gone = false): Promise<number | null> {
  try {
    await waitFor(
      `${host} ${gone ? "removed" : "served"}`,
      async () => {
        const r = await hostRequest(stack.envoy.port, "/", { host }, { timeoutMs: 2000 }).catch(() => null);
        return r !== null && (gone ? r.status === 404 : r.status !== 404);
      },
      30_000,
      20,
    );
    return Date.now() - from;
  } catch {
    return null;
  }
}

/** A registration through replica `via` while the control plane is degraded; then removed again. */
async function probeRegistration(
  stack: Stack,
  id: string,
  via: number,
): Promise<Record<string, number | null>> {
  const host = `${id}.test`;
  const t0 = Date.now();
  await stack.createApp(id, host, via);
  const served = await routedAfter(stack, host, t0);
  const t1 = Date.now();
  await stack.deleteApp(id, via);
  const removed = await routedAfter(stack, host, t1, true);
  return { probeRegisterToServedMs: served, probeDeleteToRemovedMs: removed };
}

const redis: Scenario = {
  name: "redis",
  title: "Redis killed and restarted",
  what: "redis-server SIGKILLed, restarted on the same port from its append-only file",
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    await stack.redis.kill();
    await holdUntil(faultAt, t.holdS);
    await stack.redis.restart();
    return { faultAt, backAt: Date.now() };
  },
};

const bffReplica: Scenario = {
  name: "bff-replica",
  title: "One of two BFF replicas killed and restarted",
  what: "BFF replica A (bff/main.ts --config, its own process) SIGKILLed; replica B keeps serving behind the balancer",
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    await stack.bffs[0].kill();
    await holdUntil(faultAt, t.holdS);
    await stack.bffs[0].start();
    return { faultAt, backAt: Date.now() };
  },
};

const bffAll: Scenario = {
  name: "bff-all",
  title: "Every BFF replica killed and restarted",
  what: "both BFF processes SIGKILLed: no BFF at all until they are restarted",
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    await Promise.all(stack.bffs.map((b) => b.kill()));
    await holdUntil(faultAt, t.holdS);
    await Promise.all(stack.bffs.map((b) => b.start()));
    return { faultAt, backAt: Date.now() };
  },
};

const xdsAll: Scenario = {
  name: "xds-server",
  title: "The control plane killed and restarted",
  what: "both xds-server processes SIGKILLed (Envoy keeps its last config), restarted; then one app registered and deleted",
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    await Promise.all(stack.xds.map((x) => x.kill()));
    await holdUntil(faultAt, t.holdS);
    await Promise.all(stack.xds.map((x) => x.start()));
    const backAt = Date.now();
    const adsReconnectMs = await adsConnectedAfter(stack, backAt);
    const probe = await probeRegistration(stack, "probe-xds", 0);
    return { faultAt, backAt, figures: { adsReconnectAfterRestartMs: adsReconnectMs, ...probe } };
  },
};

const xdsReplica: Scenario = {
  name: "xds-replica",
  title: "One of two control-plane replicas killed",
  what: "the xds-server replica holding Envoy's ADS stream SIGKILLed; an app registered through the other one meanwhile; the replica restarted",
  inQuick: true,
  fault: async (stack, t, log) => {
    const streams = await Promise.all(stack.xds.map((x) => x.streams()));
    const victim = streams[1] > streams[0] ? 1 : 0;
    const survivor = 1 - victim;
    log(`    ADS streams per replica ${streams.join("/")}: killing replica ${"ab"[victim]}`);
    const faultAt = Date.now();
    await stack.xds[victim].kill();
    // Registered through the survivor right away: served once Envoy has failed over to it.
    const t0 = Date.now();
    await stack.createApp("probe-failover", "probe-failover.test", survivor);
    const served = await routedAfter(stack, "probe-failover.test", t0);
    const failover = await waitFor(
      "the survivor's ADS stream",
      async () => (await stack.xds[survivor].streams()) > 0,
      30_000,
      50,
    ).then(
      () => Date.now() - faultAt,
      () => null,
    );
    await holdUntil(faultAt, t.holdS);
    await stack.xds[victim].start();
    const backAt = Date.now();
    const t1 = Date.now();
    await stack.deleteApp("probe-failover", survivor);
    const removed = await routedAfter(stack, "probe-failover.test", t1, true);
    return {
      faultAt,
      backAt,
      figures: {
        killedReplica: "ab"[victim],
        adsOnSurvivorAfterMs: failover,
        probeRegisterToServedMs: served,
        probeDeleteToRemovedMs: removed,
      },
    };
  },
};

const opDown: Scenario = {
  name: "op-down",
  title: "The OpenID Provider down while tokens come due",
  what: "the OP stops answering (sockets closed, state kept) for longer than an access token's refresh window, then resumes",
  inQuick: true,
  fault: async (stack, t) => {
    const opErrors = `sessiongate_bff_refreshes_total{app="${APP_ID}",result="op_error"}`;
    const okRefreshes = `sessiongate_bff_refreshes_total{app="${APP_ID}",result="ok"}`;
    const [err0, ok0] = [await bffCounter(stack, opErrors), await bffCounter(stack, okRefreshes)];
    const faultAt = Date.now();
    await stack.op.pause();
    await holdUntil(faultAt, t.opHoldS);
    const errDuring = (await bffCounter(stack, opErrors)) - err0;
    const okDuring = (await bffCounter(stack, okRefreshes)) - ok0;
    await stack.op.start();
    const backAt = Date.now();
    // Read the refreshes again at the end of the load after the outage.
    await holdUntil(backAt, t.postS - 0.2);
    return {
      faultAt,
      backAt,
      figures: {
        bffRefreshFailuresDuringOutage: errDuring,
        bffRefreshesDuringOutage: okDuring,
        bffRefreshesAfterOutage: (await bffCounter(stack, okRefreshes)) - ok0 - okDuring,
      },
      notes: [
        `Access tokens live ${stack.opts.tokenTtlS} s and the BFF refreshes them ${stack.opts.refreshSkewS} s before expiry, so every session came due during the ${t.opHoldS} s outage.`,
      ],
    };
  },
};

const envoyHot: Scenario = {
  name: "envoy-hot-restart",
  title: "Envoy hot restart (--restart-epoch)",
  what: "a new Envoy process started with --restart-epoch N+1: it takes over the listen sockets, gets its config over ADS, and the old one drains and exits",
  inQuick: true,
  fault: async (stack) => {
    const faultAt = Date.now();
    const old = stack.envoy.proc();
    await stack.envoy.hotRestart();
    const backAt = Date.now();
    const oldExit = await waitFor("the old epoch to exit", async () => old.exited(), 30_000, 50).then(
      () => Date.now() - faultAt,
      () => null,
    );
    return {
      faultAt,
      backAt,
      figures: { epoch: stack.envoy.epoch, oldEpochExitedAfterMs: oldExit },
    };
  },
};

const envoyCold: Scenario = {
  name: "envoy-cold-restart",
  title: "Envoy killed and started again (cold restart)",
  what: "Envoy SIGKILLed and a new process started: connections are cut and refused until it has its config over ADS",
  errorsExpected: true,
  inQuick: false,
  fault: async (stack) => {
    const faultAt = Date.now();
    await stack.envoy.kill();
    await stack.envoy.start();
    return { faultAt, backAt: Date.now() };
  },
};

export const SCENARIOS: Scenario[] = [
  redis,
  bffReplica,
  bffAll,
  xdsAll,
  xdsReplica,
  opDown,
  envoyHot,
  envoyCold,
];

export type { FaultOutcome, Timing };
