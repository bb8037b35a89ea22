// A client secret changed in the registry is used by the next refresh, not
// only by the next login: the BFF rebuilds the app's OIDC client when the
// directory stream delivers the change. Real in-process xds-server, real OP
// with short-lived access tokens, real BFF.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { startBff, validateConfig } from "../../bff/index.js";
import { connect } from "../../xds-server/cli/client.js";
import { startServer } from "../../xds-server/server.js";
import { onCleanup, startOP, startRedis, waitFor } from "../harness/index.js";
import { baseSpec, inProcessServerConfig, TOKEN } from "../xds/helpers.js";
import { bffConfig, internalToken, login, opClient, ports, sleep, type TestApp } from "./helpers.js";

const BFF_TOKEN = "bff-directory-token-0123456789";
const APP: TestApp = { id: "rf", mode: "bff", secret: "rf-secret-0123456789abcdef" };
const TTL = 12; // OP access-token lifetime (s)
const SKEW = 8; // BFF refresh skew (s): a token is due 4 s after it was issued

describe("registry secret change and refresh", () => {
  it("the next refresh uses the secret from the registry", async () => {
    const [publicPort] = await ports(1);
    const publicUrl = `http://127.0.0.1:${publicPort}`;
    const redis = await startRedis();
    const op = await startOP({ clients: [opClient(publicUrl, APP)], ttl: TTL });
    const srv = await startServer(
      inProcessServerConfig({ bffTokens: [BFF_TOKEN] }),
      pino({ level: "silent" }),
    );
    onCleanup(() => srv.stop());
    const admin = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
    onCleanup(() => admin.close());
    const spec = (secret: string) => {
      const s = baseSpec(APP.id) as Record<string, unknown> & { oidc: Record<string, unknown> };
      Object.assign(s.oidc, {
        issuer: op.issuer,
        clientId: `client-${APP.id}`,
        clientSecret: secret,
        scopes: ["openid", "profile"],
        publicOrigin: publicUrl,
      });
      return s;
    };
    let rev = (await admin.unary<unknown, { revision: bigint }>("createApp", { app: spec(APP.secret) }, 5000))
      .revision;
    const bff = await startBff(
      validateConfig(
        bffConfig({
          publicPort,
          redisUrl: redis.url,
          issuer: op.issuer,
          apps: [],
          skew: SKEW,
          extra: { apps: [], registry: { address: `127.0.0.1:${srv.apiPort}`, token: BFF_TOKEN } },
        }),
      ),
      { defaultMetrics: false },
    );
    onCleanup(() => bff.close());
    const modified = async () => {
      const text = await (await fetch(`${bff.adminUrl}/metrics`)).text();
      const line = text
        .split("\n")
        .find((l) => l.startsWith('sessiongate_bff_registry_app_updates_total{type="modified"} '));
      return line ? Number(line.split(" ")[1]) : 0;
    };
    await waitFor("synced", async () => (await fetch(`${bff.internalUrl}/readyz`)).status === 200, 15_000);

    // A session, then the secret in the registry becomes one the OP does not know.
    const s1 = await login(publicUrl, op, APP.id);
    expect((await internalToken(bff.internalUrl, APP.id, s1.session)).status).toBe(200);
    rev = (
      await admin.unary<unknown, { revision: bigint }>(
        "updateApp",
        { app: spec("not-the-secret-0123456789"), revision: rev },
        5000,
      )
    ).revision;
    await waitFor("the change applied", async () => (await modified()) >= 1, 15_000);
    await sleep((TTL - SKEW + 1) * 1000);
    const refreshes = op.counts.refresh_token;
    // The OP refuses the client (401 challenge): a configuration fault, not a
    // dead grant, so the session is kept. While the current token is valid it is
    // still served; once it has expired the filter gets a 502.
    expect((await internalToken(bff.internalUrl, APP.id, s1.session)).status).toBe(200);
    await sleep(SKEW * 1000);
    const failed = await internalToken(bff.internalUrl, APP.id, s1.session);
    expect(failed.status).toBe(502);
    expect(op.counts.refresh_token).toBe(refreshes);

    // Back to the right secret: the same session's refresh now succeeds with it.
    await admin.unary("updateApp", { app: spec(APP.secret), revision: rev }, 5000);
    await waitFor("the fix applied", async () => (await modified()) >= 2, 15_000);
    // The failed refreshes put the session in refresh backoff (docs/architecture.md#d7-single-flight-refresh-with-fenced-locks):
    // calls inside it still get 502 without asking the OP; the first attempt after it uses the new secret.
    await waitFor(
      "a refresh with the registry's fixed secret",
      async () => (await internalToken(bff.internalUrl, APP.id, s1.session)).status === 200,
      30_000,
      250,
    );
    expect(op.counts.refresh_token).toBe(refreshes + 1);
  });
});
