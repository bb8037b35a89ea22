// The benchmark's peers (issue 21) — (e) oauth2-proxy as HTTP ext_authz with
// Redis sessions, (f) Envoy's oauth2 filter — are only worth comparing when
// they do the work they claim: a real login through the OP, the access token
// reaching jwt_authn, a missing or tampered cookie refused. `npm run bench`
// checks that before measuring; this test runs the same set-up in CI, so a
// broken peer configuration is found without a bench run. oauth2-proxy is
// required: missing, the test fails and says how to build it
// (`bash scripts/go-tools.sh oauth2-proxy`, which `bash .ci/run` runs).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BenchEnvoy, luaReferenceSource, startBenchEnvoy } from "./lib/envoy.js";
import {
  checkPeersRefuse,
  loginEnvoyOauth2,
  loginOauth2Proxy,
  oauth2ProxyBin,
  peerVars,
  startOauth2Proxy,
  tamperCookie,
} from "./lib/peers.js";
import { Progress } from "./lib/progress.js";
import { getStack, type Stack } from "./lib/stack.js";
import type { BenchContext } from "./lib/types.js";

const ctx: BenchContext = {
  opts: { quick: true, reps: 1, durationS: 1 },
  cpus: { envoy: "", load: "" },
  progress: new Progress([]),
  log: () => {},
  shared: new Map(),
};

describe("bench peers: logged in for real, refusing a missing or tampered cookie", () => {
  let st: Stack;
  let be: BenchEnvoy;
  let stopO2p: () => Promise<void> = async () => {};
  const cookies = { e: "", f: "" };

  beforeAll(async () => {
    oauth2ProxyBin(); // throws "oauth2-proxy v7.15.6 not found … bash scripts/go-tools.sh oauth2-proxy"
    st = await getStack(ctx);
    const o2p = await startOauth2Proxy(st);
    stopO2p = () => o2p.stop();
    be = await startBenchEnvoy({
      bffPort: st.bffInternalPort,
      issuer: st.op.issuer,
      audience: st.op.audience,
      jwks: st.jwks,
      lua: luaReferenceSource() ?? "",
      cpus: "",
      name: "bench-peers",
      peers: await peerVars(st),
    });
    cookies.e = await loginOauth2Proxy(st, st.op);
    cookies.f = await loginEnvoyOauth2(be.ports.f, st.op);
  });

  afterAll(async () => {
    await be?.envoy.stop();
    await stopO2p();
    await st?.bff.stop();
    await st?.op.stop();
    await st?.redis.stop();
  });

  const get = async (port: number, headers: Record<string, string> = {}) => {
    const r = await fetch(`http://127.0.0.1:${port}/`, { redirect: "manual", headers });
    await r.arrayBuffer();
    return r.status;
  };

  it("(e) oauth2-proxy: the logged-in cookie gets through jwt_authn (the OP's access token forwarded), none or a tampered one does not", async () => {
    // jwt_authn requires a valid token on every listener: 200 means oauth2-proxy's answer
    // carried the session's access token as authorization: Bearer.
    expect(await get(be.ports.e, { cookie: cookies.e })).toBe(200);
    expect(await get(be.ports.e)).not.toBe(200);
    expect(await get(be.ports.e, { cookie: tamperCookie(cookies.e, "_oauth2_proxy") })).not.toBe(200);
    // A cookie of the wrong peer is no session either.
    expect(await get(be.ports.e, { cookie: cookies.f })).not.toBe(200);
  });

  it("(f) Envoy's oauth2 filter: the logged-in cookies get through jwt_authn, none or a tampered token does not", async () => {
    expect(await get(be.ports.f, { cookie: cookies.f })).toBe(200);
    expect(await get(be.ports.f)).not.toBe(200);
    // The RefreshToken cookie spoilt too: with a good one, a bad cookie sends the filter
    // to the OP for a refresh grant (next test).
    const noRefresh = tamperCookie(cookies.f, "RefreshToken");
    expect(await get(be.ports.f, { cookie: tamperCookie(noRefresh, "BearerToken") })).not.toBe(200);
    expect(await get(be.ports.f, { cookie: tamperCookie(noRefresh, "OauthHMAC") })).not.toBe(200);
    expect(await get(be.ports.f, { cookie: tamperCookie(noRefresh, "OauthExpires") })).not.toBe(200);
    expect(await get(be.ports.f, { cookie: noRefresh })).not.toBe(200);
  });

  it("the bench's own pre-measurement check passes and reports each refusal", async () => {
    const checks = await checkPeersRefuse(be.ports, cookies);
    expect(checks.map((c) => c.valid)).toEqual([200, 200]);
    for (const c of checks) {
      expect(c.missing).not.toBe(200);
      expect(c.tampered).not.toBe(200);
    }
  });

  it("(f) with a RefreshToken cookie, a tampered OauthHMAC is not trusted either: the filter goes back to the OP", async () => {
    // Envoy 1.40 answers a bad HMAC with a refresh grant (use_refresh_token) when a
    // RefreshToken cookie is there: served, but only after the OP said yes. (Last: the
    // refresh rotates the refresh token.)
    const before = st.op.counts.refresh_token;
    await get(be.ports.f, { cookie: tamperCookie(cookies.f, "OauthHMAC") });
    expect(st.op.counts.refresh_token).toBe(before + 1);
  });
});
