// The faults. Each kills (SIGKILL, no clean shutdown) or pauses one part of the
// running stack, keeps it down for a while under load, and brings it back.
import { hostRequest, type TokenFault, waitFor } from "../../harness/index.js";
import { certRotation } from "./cert-rotation.js";
import { jwksRotation } from "./jwks-rotation.js";
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

/** The filter's BFF call timeout (the xds-server's --bff-timeout-ms default). */
export const BFF_TIMEOUT_MS = 2000;
/** A slow part may not hold a request longer than the filter's timeout plus this (queueing, Envoy, the load's client). */
const HOLD_SLACK_MS = 1500;

const bffSlow: Scenario = {
  name: "bff-slow",
  title: "The BFF answering in 2 s instead of milliseconds",
  what: `every reply from the BFFs' internal listener (the filter's calls) held ${BFF_TIMEOUT_MS} ms by a delaying proxy between Envoy and the BFFs`,
  maxLatencyMs: BFF_TIMEOUT_MS + HOLD_SLACK_MS,
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    stack.balancers.internal.delayMs = BFF_TIMEOUT_MS;
    await holdUntil(faultAt, t.holdS);
    stack.balancers.internal.delayMs = 0;
    return { faultAt, backAt: Date.now() };
  },
};

const REDIS_DELAY_MS = 400;
const redisSlow: Scenario = {
  name: "redis-slow",
  title: `Redis answering in ${REDIS_DELAY_MS} ms`,
  what: `every Redis reply to the BFFs held ${REDIS_DELAY_MS} ms by a delaying proxy (the xds-server registry is not slowed)`,
  maxLatencyMs: BFF_TIMEOUT_MS + HOLD_SLACK_MS,
  inQuick: true,
  fault: async (stack, t) => {
    const faultAt = Date.now();
    stack.balancers.redis.delayMs = REDIS_DELAY_MS;
    await holdUntil(faultAt, t.holdS);
    stack.balancers.redis.delayMs = 0;
    return { faultAt, backAt: Date.now() };
  },
};

/** The OP's token endpoint misbehaves while every session's token comes due; refreshes counted. */
function opTokenFault(name: string, title: string, what: string, fault: TokenFault): Scenario {
  return {
    name,
    title,
    what,
    maxLatencyMs: BFF_TIMEOUT_MS + HOLD_SLACK_MS,
    inQuick: true,
    fault: async (stack, t) => {
      const opErrors = `sessiongate_bff_refreshes_total{app="${APP_ID}",result="op_error"}`;
      const err0 = await bffCounter(stack, opErrors);
      const ok0 = stack.op.counts.refresh_token;
      const faultAt = Date.now();
      stack.op.tokenFault = fault;
      await holdUntil(faultAt, t.opHoldS);
      stack.op.tokenFault = null;
      const backAt = Date.now();
      return {
        faultAt,
        backAt,
        figures: {
          bffRefreshFailuresDuringFault: (await bffCounter(stack, opErrors)) - err0,
          opRefreshGrantsDuringFault: stack.op.counts.refresh_token - ok0,
        },
      };
    },
  };
}

const OP_SLOW_MS = 3000;
const opTokenSlow = opTokenFault(
  "op-token-slow",
  `The OP's token endpoint answering in ${OP_SLOW_MS / 1000} s`,
  `every token-endpoint call held ${OP_SLOW_MS} ms before the OP answers (longer than the BFF's 2 s OP timeout) while tokens come due`,
  { delayMs: OP_SLOW_MS },
);
const opToken5xx = opTokenFault(
  "op-token-5xx",
  "The OP's token endpoint answering 500",
  "every token-endpoint call answered 500 (an HTML error page) while tokens come due",
  { status: 500, contentType: "text/html", body: "<html><body>Internal Server Error</body></html>" },
);
const opTokenMalformed = opTokenFault(
  "op-token-malformed",
  "The OP's token endpoint answering malformed JSON",
  "every token-endpoint call answered 200 with truncated JSON while tokens come due",
  { status: 200, body: '{"access_token":"eyJhbGciOi","token_type":"Bearer","expires_in":' },
);

const redisFailover: Scenario = {
  name: "redis-failover",
  title: "Redis master killed behind Sentinel",
  what: "the Redis master SIGKILLed (not restarted); the sentinel (quorum 1, down-after 1 s) promotes the replica, and the BFFs and xds-servers (redis-sentinel:// URLs) follow it",
  sentinel: true,
  inQuick: true,
  fault: async (stack) => {
    const s = stack.sentinel!;
    // Replication is asynchronous: whether the last acknowledged writes reached the replica.
    const synced = await s.synced();
    const faultAt = Date.now();
    await stack.redis.kill();
    await waitFor(
      "the sentinel to promote the replica",
      async () => (await s.masterPort()) === s.replica.port,
      30_000,
      100,
    );
    const backAt = Date.now();
    return {
      faultAt,
      backAt,
      figures: { replicaPromotedAfterMs: backAt - faultAt, replicaInSyncBeforeKill: synced ? 1 : 0 },
      notes: [
        "Replication is asynchronous: a write acknowledged by the master in the instant before it died may be missing on the promoted replica (a refresh lost that way ends its session with refresh-token rotation). Counted by the sessions-lost goal.",
      ],
    };
  },
};

const redisClusterFailover: Scenario = {
  name: "redis-cluster-failover",
  title: "Redis Cluster master killed",
  what: "on a Redis Cluster (3 masters + 3 replicas, node timeout 1 s; BFFs and xds-servers on redis-cluster://), the master holding the registry's hash slot (and a third of the sessions) SIGKILLed and left dead; its replica is promoted",
  cluster: true,
  inQuick: true,
  fault: async (stack) => {
    const c = stack.cluster!;
    // The registry's keys share one slot ({sg:}); that master also holds about a third of the sessions.
    const victim = await c.masterFor("{sg:}rev");
    const replica = await c.replicaOf(victim);
    const synced = await c.synced(victim);
    const faultAt = Date.now();
    await c.nodes.find((n) => n.port === victim)!.kill();
    await waitFor(
      "the cluster to promote the replica",
      async () => (await c.masterFor("{sg:}rev")) !== victim && (await c.healthy()),
      30_000,
      100,
    );
    const backAt = Date.now();
    return {
      faultAt,
      backAt,
      figures: {
        killedMasterPort: victim,
        promotedReplicaPort: (await c.masterFor("{sg:}rev")) ?? null,
        expectedReplicaPort: replica ?? null,
        replicaPromotedAfterMs: backAt - faultAt,
        replicaInSyncBeforeKill: synced ? 1 : 0,
      },
      notes: [
        "Cluster replication is asynchronous too: a write acknowledged by the master in the instant before it died may be missing on the promoted replica. Counted by the sessions-lost goal.",
      ],
    };
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
  bffSlow,
  redisSlow,
  opTokenSlow,
  opToken5xx,
  opTokenMalformed,
  redisFailover,
  redisClusterFailover,
  jwksRotation,
  certRotation,
];

export type { FaultOutcome, Timing };
