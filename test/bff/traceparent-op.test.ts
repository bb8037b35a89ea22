// W3C trace context passed on to the OP: a browser request with `traceparent`
// that makes the BFF call the provider (the code exchange at the callback, a
// refresh for the filter's token request) sends a child `traceparent` there —
// same trace id, a new span id, the caller's flags — and logs that span with
// the request's field names (trace_id, span_id, parent_span_id). Captured at
// the real OP (oidc-provider), not at a mock.
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBff, startBff, validateConfig } from "../../bff/index.js";
import { OpBrowser, type OpHandle, startOP, startRedis } from "../harness/index.js";
import { bffConfig, internalToken, login, opClient, ports, setCookies, startLogin, WEB } from "./helpers.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE}-${SPAN}-01`;
const CHILD = new RegExp(`^00-${TRACE}-([0-9a-f]{16})-01$`);

let op: OpHandle;
let bff: RunningBff;
let publicUrl: string;
const lines: Record<string, unknown>[] = [];
/** What the OP's token endpoint received: each grant's path and traceparent header. */
const atOp: { method: string; path: string; traceparent: string }[] = [];

const tokenCalls = () => atOp.filter((r) => r.method === "POST" && r.path === "/token");

beforeAll(async () => {
  const [publicPort] = await ports(1);
  publicUrl = `http://127.0.0.1:${publicPort}`;
  const redis = await startRedis();
  // Access tokens shorter than the BFF's refresh skew (5 s): every token request refreshes.
  op = await startOP({ clients: [opClient(publicUrl, WEB)], ttl: 4 });
  // Every answered token request (code exchange and refresh) as the OP saw it.
  op.provider.on("grant.success", (ctx) => {
    atOp.push({ method: ctx.method, path: ctx.path, traceparent: ctx.get("traceparent") });
  });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  bff = await startBff(
    validateConfig(bffConfig({ publicPort, redisUrl: redis.url, issuer: op.issuer, apps: [WEB] })),
    {
      defaultMetrics: false,
      logger: pino({ level: "debug" }, sink),
    },
  );
});

afterAll(async () => {
  await bff?.close();
});

/** The "op request" log line of the span whose traceparent the OP got. */
function spanLogged(traceparent: string) {
  const span = CHILD.exec(traceparent)![1];
  return lines.find((l) => l.msg === "op request" && l.span_id === span);
}

describe("traceparent passed on to the OP", () => {
  it("the callback's code exchange carries a child of the browser's traceparent, logged as that span", async () => {
    const start = await startLogin(publicUrl, WEB.id);
    const callbackUrl = await new OpBrowser(op.issuer).login(start.location, {
      username: "alice",
      password: "wonderland",
    });
    const before = tokenCalls().length;
    const cb = await fetch(callbackUrl, {
      redirect: "manual",
      headers: { cookie: `__Host-sg-${WEB.id}-login=${start.loginCookie}`, traceparent: TRACEPARENT },
    });
    expect(cb.status).toBe(200);
    expect(setCookies(cb).get(`__Host-sg-${WEB.id}`)).toBeDefined();
    const calls = tokenCalls().slice(before);
    expect(calls).toHaveLength(1);
    expect(calls[0].traceparent).toMatch(CHILD);
    expect(calls[0].traceparent).not.toContain(SPAN); // a new span, not the caller's
    const line = spanLogged(calls[0].traceparent);
    expect(line).toMatchObject({
      trace_id: TRACE,
      parent_span_id: SPAN,
      method: "POST",
      url: `${op.issuer}/token`,
      code: 200,
    });
    expect(typeof line!.ms).toBe("number");
    // The log line carries no token, code or secret.
    expect(JSON.stringify(line)).not.toMatch(/code=|access_token|client_secret|wonderland/);
  });

  it("a refresh for the filter's token request carries a child of that request's traceparent; each call a new span", async () => {
    const s = await login(publicUrl, op, WEB.id);
    const spans = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const before = tokenCalls().length;
      const r = await internalToken(bff.internalUrl, WEB.id, s.session, { traceparent: TRACEPARENT });
      expect(r.status).toBe(200);
      const calls = tokenCalls().slice(before);
      expect(calls).toHaveLength(1); // the refresh grant
      expect(calls[0].traceparent).toMatch(CHILD);
      spans.add(CHILD.exec(calls[0].traceparent)![1]);
      expect(spanLogged(calls[0].traceparent)).toMatchObject({ trace_id: TRACE, parent_span_id: SPAN });
    }
    expect(spans.size).toBe(2);
  });

  it("the caller's sampled flag is kept as it was sent", async () => {
    const s = await login(publicUrl, op, WEB.id);
    const before = tokenCalls().length;
    const unsampled = `00-${TRACE}-${SPAN}-00`;
    expect((await internalToken(bff.internalUrl, WEB.id, s.session, { traceparent: unsampled })).status).toBe(
      200,
    );
    expect(tokenCalls().slice(before)[0].traceparent).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  });

  it("without a valid traceparent from the caller, the OP gets none (none is made up, a bad one is not passed on)", async () => {
    const s = await login(publicUrl, op, WEB.id);
    for (const sent of [undefined, `00-${TRACE}-${"0".repeat(16)}-01`, "garbage"]) {
      const before = tokenCalls().length;
      const r = await internalToken(bff.internalUrl, WEB.id, s.session, sent ? { traceparent: sent } : {});
      expect(r.status).toBe(200);
      const calls = tokenCalls().slice(before);
      expect(calls).toHaveLength(1);
      expect(calls[0].traceparent, String(sent)).toBe("");
    }
  });
});
