// W3C trace context is logged by both servers: a BFF request and a
// registration call that carry `traceparent` log the caller's trace and span
// ids (`trace_id`, `span_id`) with the same field names; a malformed value is
// ignored, never logged raw.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { startBff, validateConfig } from "../../bff/index.js";
import { parseTraceparent } from "../../contracts/trace.js";
import { connect } from "../../xds-server/cli/client.js";
import { startServer } from "../../xds-server/server.js";
import { freePort, onCleanup, startRedis, waitFor } from "../harness/index.js";
import { inProcessServerConfig, TOKEN } from "../xds/helpers.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE}-${SPAN}-01`;

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), lines };
}

describe("traceparent parsing", () => {
  it("takes version-00 ids and refuses malformed, all-zero and version ff values", () => {
    expect(parseTraceparent(TRACEPARENT)).toEqual({ trace_id: TRACE, span_id: SPAN });
    for (const bad of [
      undefined,
      "",
      `00-${TRACE}-${SPAN}`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `00-${"0".repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
      `ff-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-01\nx`,
    ])
      expect(parseTraceparent(bad), String(bad)).toBeNull();
  });
});

describe("both servers log the caller's trace ids", () => {
  it("the BFF: every line of a request with traceparent has trace_id and span_id", async () => {
    const redis = await startRedis();
    const { logger, lines } = capture();
    const [pub, internal] = [await freePort(), await freePort()];
    const bff = await startBff(
      validateConfig({
        allow_insecure_issuer: true,
        public: { listen: `127.0.0.1:${pub}` },
        internal: { listen: `127.0.0.1:${internal}` },
        redis: { url: redis.url },
        keys: { keys: { k1: randomBytes(32).toString("base64") } },
        apps: [
          {
            id: "shop",
            issuer: "http://127.0.0.1:1",
            client_id: "shop",
            client_secret: "s",
            redirect_uri: "http://localhost/auth/shop/callback",
          },
        ],
      }),
      { logger, defaultMetrics: false },
    );
    onCleanup(() => bff.close());
    const r = await fetch(`${bff.publicUrl}/auth/nope/session`, { headers: { traceparent: TRACEPARENT } });
    expect(r.status).toBe(404);
    await fetch(`${bff.publicUrl}/auth/nope/session`, { headers: { traceparent: "garbage" } });
    await waitFor(
      "two request lines",
      async () => lines.filter((l) => l.msg === "request").length >= 2,
      5000,
    );
    const [traced, untraced] = lines.filter((l) => l.msg === "request");
    expect(traced).toMatchObject({ trace_id: TRACE, span_id: SPAN, status: 404 });
    expect(untraced.trace_id).toBeUndefined();
    expect(JSON.stringify(lines)).not.toContain("garbage");
  });

  it("the xds-server: a registration call with traceparent metadata is logged with trace_id and span_id", async () => {
    const { logger, lines } = capture();
    const srv = await startServer(inProcessServerConfig(), logger);
    onCleanup(() => srv.stop());
    const client = connect(`127.0.0.1:${srv.apiPort}`, TOKEN);
    onCleanup(async () => client.close());
    const md = client.metadata();
    md.set("traceparent", TRACEPARENT);
    const code = await new Promise<number>((resolve) =>
      client.raw.getApp({ id: "missing" }, md, (err: grpc.ServiceError | null) => resolve(err?.code ?? 0)),
    );
    expect(code).toBe(grpc.status.NOT_FOUND);
    const call = lines.find((l) => l.msg === "registration call" && l.method === "GetApp");
    expect(call).toMatchObject({
      code: "NOT_FOUND",
      trace_id: TRACE,
      span_id: SPAN,
    });
  });
});
