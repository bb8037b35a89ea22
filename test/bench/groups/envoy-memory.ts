// Envoy RSS before/after N distinct sessions through (c), the wasm filter with
// its cache on: the cache is a fixed table of slots, so memory must stay
// bounded whatever the number of sessions. The sessions are fixture sessions
// (test/fixtures/token-server.ts answers for any id here), so no login per session.
import { readFileSync } from "node:fs";
import { startTokenServer } from "../../fixtures/token-server.js";
import { LUA_FALLBACK, startBenchEnvoy } from "../lib/envoy.js";
import { getStack } from "../lib/stack.js";
import { fmt, summarize } from "../lib/stats.js";
import type { BenchContext, BenchGroup, GroupResult } from "../lib/types.js";
import { runWrk } from "../lib/wrk.js";

const SESSIONS = 100_000;
const MiB = 2 ** 20;

/** wrk Lua: every request a new, well-formed 43-char session id, starting at `offset`. */
export function distinctSessionLua(cookie: string, offset: number): string {
  return `local n = ${offset}
request = function()
  n = n + 1
  return wrk.format("GET", "/", { ["Cookie"] = "${cookie}=" .. string.format("bench%038d", n) })
end
`;
}

export const envoyMemoryGroup: BenchGroup = {
  name: "envoy-memory",
  title: `Envoy RSS after ${SESSIONS.toLocaleString("en-US")} distinct sessions through (c)`,
  estimateS: () => 60,
  tools: ["wrk", "taskset", "redis-server", "envoy"],
  async run(ctx: BenchContext): Promise<GroupResult> {
    // A real token (so jwt_authn after the filter accepts it) from the stack's OP.
    const st = await getStack(ctx);
    const ts = await startTokenServer();
    const entry = { accessToken: st.accessToken, expiresIn: 300 };
    // Any id is a session: the point is the filter's cache bound, not the BFF.
    ts.sessions = new (class extends Map<string, typeof entry> {
      override get(): typeof entry {
        return entry;
      }
    })();
    const drain = setInterval(() => {
      ts.requests.length = 0;
    }, 500);
    const be = await startBenchEnvoy({
      bffPort: ts.port,
      issuer: st.op.issuer,
      audience: st.op.audience,
      jwks: st.jwks,
      lua: readFileSync(LUA_FALLBACK, "utf8"),
      cpus: ctx.cpus.envoy,
      name: "bench-envoy-mem",
    });
    try {
      const url = `http://127.0.0.1:${be.ports.c}/`;
      // Warm the VM, the connection pools and the allocator before "before".
      await runWrk({
        url,
        connections: 16,
        durationS: 1,
        lua: distinctSessionLua("__Host-sg-bench", 900_000_000),
        cpus: ctx.cpus.load,
      });
      await new Promise((r) => setTimeout(r, 500));
      const before = be.envoy.rssBytes();
      let sent = 0;
      const deadline = Date.now() + 180_000;
      let chunk = 0;
      while (sent < SESSIONS && Date.now() < deadline && chunk < 60) {
        ctx.progress.update(
          `${sent.toLocaleString("en-US")}/${SESSIONS.toLocaleString("en-US")} sessions`,
          sent / SESSIONS,
        );
        const r = await runWrk({
          url,
          connections: 32,
          durationS: 4,
          lua: distinctSessionLua("__Host-sg-bench", sent),
          cpus: ctx.cpus.load,
        });
        sent += r.requests;
        chunk++;
      }
      await new Promise((r) => setTimeout(r, 1000));
      const after = be.envoy.rssBytes();
      const stats = await be.envoy.stats();
      const misses = stats.get("wasmcustom.session_to_token.misses") ?? 0;
      const growth = (after - before) / MiB;
      const figures = {
        rss_before_mib: summarize([before / MiB], "MiB"),
        rss_after_mib: summarize([after / MiB], "MiB"),
        rss_growth_mib: summarize([growth], "MiB"),
        sessions: summarize([sent], "sessions"),
        filter_misses: summarize([misses], "requests"),
      };
      return {
        group: "envoy-memory",
        title: envoyMemoryGroup.title,
        figures,
        goals: [
          {
            name: `Envoy RSS growth after ${SESSIONS.toLocaleString("en-US")} sessions through (c)`,
            target: "<= 20 MB",
            measured: `${fmt(growth)} MiB (${fmt(before / MiB)} -> ${fmt(after / MiB)} MiB, ${sent.toLocaleString("en-US")} sessions)`,
            met: sent >= SESSIONS ? growth <= 20 : null,
          },
        ],
        tables: [
          {
            title: "Envoy resident memory (one measurement)",
            columns: ["figure", "value"],
            rows: [
              ["distinct sessions sent through (c)", sent.toLocaleString("en-US")],
              ["filter cache misses (each a token fetch)", misses.toLocaleString("en-US")],
              ["RSS before", `${fmt(before / MiB)} MiB`],
              ["RSS after", `${fmt(after / MiB)} MiB`],
              ["growth", `${fmt(growth)} MiB`],
            ],
          },
        ],
        notes: [
          "A separate Envoy from the same yaml, its BFF cluster pointed at test/fixtures/token-server.ts (in the runner process) answering every well-formed session id with the stack's real token (jwt_authn still verifies it).",
          "Filter cache: 16,384 slots, max TTL 30 s; a slot holds (digest, expiry, token), so memory is bounded by slots x entry size whatever the number of sessions.",
        ],
      };
    } finally {
      clearInterval(drain);
      await be.envoy.stop();
      await ts.stop();
    }
  },
};
