// End-to-end BFF flows against a real oidc-provider and a real redis-server.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBff, validateConfig, type RunningBff } from "../../bff/index.js";
import { OpBrowser, startOP, startRedis, type OpHandle, type RedisHandle } from "../harness/index.js";
import { bffConfig, internalToken, login, opClient, ports, setCookies, type TestApp } from "./helpers.js";

const WEB: TestApp = { id: "web", mode: "bff", secret: "web-secret-0123456789abcdef" };
const SPA: TestApp = { id: "spa", mode: "tokenExchange", secret: "spa-secret-0123456789abcdef" };

let op: OpHandle;
let redis: RedisHandle;
let bff: RunningBff;
let publicUrl: string;
let cfg: Record<string, unknown>;

beforeAll(async () => {
	const [publicPort] = await ports(1);
	publicUrl = `http://127.0.0.1:${publicPort}`;
	redis = await startRedis();
	op = await startOP({ clients: [opClient(publicUrl, WEB), opClient(publicUrl, SPA)], ttl: 120 });
	cfg = bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB, SPA] });
	bff = await startBff(validateConfig(cfg), { defaultMetrics: false });
});

afterAll(async () => {
	await bff?.close();
});

describe("login", () => {
	it("bff mode: login, session info, internal token verifies against the OP's JWKS", async () => {
		const r = await login(publicUrl, op, "web", { returnTo: "/app/home?x=1" });
		expect(r.session).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(r.cookieLine).toMatch(/HttpOnly/);
		expect(r.cookieLine).toMatch(/Secure/);
		expect(r.cookieLine).toMatch(/SameSite=Strict/);
		expect(r.cookieLine).toMatch(/Path=\//);
		expect(r.callbackRes.headers.get("refresh")).toBe(`0;url=${publicUrl}/app/home?x=1`);
		const s = await fetch(`${publicUrl}/auth/web/session`, { headers: { cookie: `__Host-sg-web=${r.session}` } });
		expect(s.status).toBe(200);
		const info = await s.json();
		expect(info).toMatchObject({ authenticated: true, app: "web", sub: "alice", user: { email: "alice@example.test" } });
		const t = await internalToken(bff.internalUrl, "web", r.session);
		expect(t.status).toBe(200);
		const body = await t.json();
		expect(body.token_type).toBe("Bearer");
		expect(body.expires_in).toBeGreaterThan(100);
		const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(op.jwksUri)), { issuer: op.issuer });
		expect(payload.sub).toBe("alice");
		expect(op.counts.authorization_code).toBeGreaterThanOrEqual(1);
	});
});
