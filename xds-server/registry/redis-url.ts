// The registry's Redis URL forms (same spelling as the BFF's):
//   redis://[user:pass@]host:port[/db], rediss://…          one server
//   redis-sentinel://[:pass@]h1:p1,h2:p2/<master>[?db=N]     the master a Sentinel
//     names (rediss-sentinel:// for TLS): the client follows a failover
// Not Cluster: every change is one Lua script over keys that would live in
// different hash slots, so a redis-cluster:// URL is refused with that reason.
import type { RedisOptions } from "ioredis";

function hosts(list: string): { host: string; port: number }[] {
  return list.split(",").map((hp) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(hp.trim());
    return { host: m?.[1] || "127.0.0.1", port: Number(m?.[2] ?? 26379) };
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
    throw new Error("--redis-url: expected redis://, rediss://, redis-sentinel:// or rediss-sentinel://");
  }
  const [, scheme, kind, user, pass, hostList, path, query] = m;
  if (kind === "cluster")
    throw new Error(
      "--redis-url: Redis Cluster is not supported by the registry (each change is one Lua script over keys in different hash slots); use one server or Sentinel",
    );
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
