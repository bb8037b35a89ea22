// What "the registry is unchanged" means: ListApps (apps and revision, as the
// API shows them) and every Redis key's serialized value, byte for byte.
import type { Redis } from "ioredis";
import type { Client } from "../../../xds-server/cli/client.js";

export interface RegistryState {
  api: string;
  revision: string;
  redis: string;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x));

export async function registryState(api: Client, rc: Redis): Promise<RegistryState> {
  const list = await api.unary<unknown, { apps: unknown[]; revision: bigint }>("listApps", {}, 10_000);
  const keys = (await rc.keys("*")).sort();
  const pipe = rc.pipeline();
  for (const k of keys) pipe.dumpBuffer(k);
  const dumps = (await pipe.exec()) ?? [];
  const redis = keys
    .map((k, i) => `${k}=${(dumps[i]?.[1] as Buffer | null)?.toString("hex") ?? "-"}`)
    .join("\n");
  return { api: json(list.apps), revision: String(list.revision), redis };
}

/** The first difference, for a violation message ("" when equal). */
export function diff(a: RegistryState, b: RegistryState): string {
  if (a.revision !== b.revision) return `revision ${a.revision} -> ${b.revision}`;
  if (a.api !== b.api) return "ListApps changed";
  if (a.redis !== b.redis) {
    const ka = a.redis.split("\n");
    const kb = b.redis.split("\n");
    const changed = kb.find((l, i) => l !== ka[i]) ?? ka.find((l, i) => l !== kb[i]) ?? "";
    return `Redis changed at ${changed.split("=")[0]}`;
  }
  return "";
}
