// oidc-provider 9 refuses outgoing requests to special-use IPs (SSRF protection),
// so its back-channel logout calls to a BFF on 127.0.0.1 fail with "fetch failed".
// The harness's startOP does not configure `fetch`; until it does (reported to the
// lead), tests wrap the provider here and drop the SSRF dispatcher for loopback only.
// @ts-expect-error: internal module without types; the package has no "exports" map.
import instance from "oidc-provider/lib/helpers/weak_cache.js";
import type { OpHandle } from "../harness/index.js";

export function allowLoopbackCallbacks(op: OpHandle): void {
  const conf = (instance as (p: unknown) => { configuration: { fetch: typeof fetch } })(
    op.provider,
  ).configuration;
  const original = conf.fetch;
  conf.fetch = ((url: string | URL, init: RequestInit & { dispatcher?: unknown }) => {
    const host = new URL(url).hostname;
    if (host === "127.0.0.1" || host === "localhost" || host === "[::1]") delete init.dispatcher;
    return original(url, init);
  }) as typeof fetch;
}
