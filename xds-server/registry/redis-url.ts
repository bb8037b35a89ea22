// The registry's Redis URL forms (same spelling as the BFF's):
//   redis://[user:pass@]host:port[/db], rediss://…          one server
//   redis-sentinel://[:pass@]h1:p1,h2:p2/<master>[?db=N]     the master a Sentinel
//     names (rediss-sentinel:// for TLS): the client follows a failover
//   redis-cluster://[:pass@]h1:p1,h2:p2,…                   a Redis Cluster
//     (rediss-cluster:// for TLS): every change is one Lua script over all the
//     registry's keys, so in Cluster mode they share one hash slot — the prefix
//     is wrapped in a hash tag (`sg:` → `{sg:}apps`, `{sg:}rev`, …); one-server
//     and Sentinel key names stay as they were.
import type { ClusterOptions, RedisOptions } from "ioredis";

function hosts(list: string, defaultPort = 26379): { host: string; port: number }[] {
  return list.split(",").map((hp) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(hp.trim());
    return { host: m?.[1] || "127.0.0.1", port: Number(m?.[2] ?? defaultPort) };
  });
}

/** ioredis options for a Sentinel URL, null for a plain redis(s):// URL (passed to ioredis as is). */
export function sentinelOptions(url: string): RedisOptions | null {
  const m =
    /^(redis|rediss)-(sentinel|cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(\/[^?]*)?(?:\?(.*))?$/.exec(
      url,
    );
  if (!m) {
    if (/^rediss?:\/\//.test(url)) return null;
    throw new Error(
      "--redis-url: expected redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://",
    );
  }
  const [, scheme, kind, user, pass, hostList, path, query] = m;
  if (kind === "cluster") return null;
  const params = new URLSearchParams(query ?? "");
  const tls = scheme === "rediss" ? {} : undefined;
  return {
    sentinels: hosts(hostList),
    name: (path ?? "").replace(/^\//, "") || params.get("name") || "mymaster",
    username: user ? decodeURIComponent(user) : undefined,
    password: pass ? decodeURIComponent(pass) : undefined,
    sentinelPassword: params.get("sentinelPassword") ?? undefined,
    db: Number(params.get("db") ?? 0),
    tls,
    enableTLSForSentinelMode: Boolean(tls),
  };
}

/** The startup nodes and options of a redis-cluster:// URL, null for any other form. */
export function clusterOptions(
  url: string,
): { nodes: { host: string; port: number }[]; options: ClusterOptions } | null {
  const m = /^(redis|rediss)-cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/?$/.exec(url);
  if (!m) {
    if (/^rediss?-cluster:/.test(url))
      throw new Error(
        "--redis-url: a redis-cluster:// URL is a list of nodes, host:port,host:port, without a path or query",
      );
    return null;
  }
  const [, scheme, user, pass, hostList] = m;
  return {
    nodes: hosts(hostList, 6379),
    options: {
      redisOptions: {
        username: user ? decodeURIComponent(user) : undefined,
        password: pass ? decodeURIComponent(pass) : undefined,
        tls: scheme === "rediss" ? {} : undefined,
      },
    },
  };
}

/** The key prefix in Cluster mode: one hash tag, so every registry key is in one slot. */
export function clusterPrefix(prefix: string): string {
  return /\{[^}]+\}/.test(prefix) ? prefix : `{${prefix}}`;
}
