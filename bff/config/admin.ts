// The `admin:` section: the listener for /metrics (and the probes), apart from
// the internal listener that serves the filter its tokens, so Prometheus and
// the kubelet never need a way to the token endpoint.
import { ConfigError, listenAddress } from "./schema.js";

export interface AdminConfig {
  listen: { host: string; port: number };
}

/**
 * `admin: { listen: "host:port" }` (host default 127.0.0.1); undefined without
 * an `admin` section: then no listener serves /metrics.
 */
export function parseAdmin(
  raw: Record<string, unknown>,
  others: { field: string; port: number }[],
): AdminConfig | undefined {
  const v = raw.admin;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError("admin", "must be an object");
  const a = v as Record<string, unknown>;
  for (const k of Object.keys(a)) if (k !== "listen") throw new ConfigError(`admin.${k}`, "unknown field");
  if (a.listen === undefined) throw new ConfigError("admin.listen", 'is required ("host:port")');
  const listen = listenAddress(a.listen, "admin.listen", "127.0.0.1");
  for (const o of others) {
    if (listen.port !== 0 && listen.port === o.port)
      throw new ConfigError("admin.listen", `must use another port than ${o.field}`);
  }
  return { listen };
}
