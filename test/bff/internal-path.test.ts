// The internal listener's token path skips reading a body only when the request
// declares none (bff/http/server.ts): a token call that does carry one (content-length
// or chunked) is read whole first, so no byte of it is left on the kept-alive
// connection for the next request to be parsed from.
import { connect } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { login, startTwoAppBff, type TwoAppBff, WEB } from "./helpers.js";

let b: TwoAppBff;
let session: string;

beforeAll(async () => {
  b = await startTwoAppBff();
  session = (await login(b.publicUrl, b.op, WEB.id)).session;
});

/** Writes `raw` on one connection and reads until `answers` HTTP answers have come back. */
function exchange(raw: string, answers: number): Promise<string> {
  const u = new URL(b.bff.internalUrl);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(raw));
    let got = "";
    s.on("data", (c) => {
      got += c.toString("latin1");
      if ((got.match(/HTTP\/1\.1 /g) ?? []).length >= answers && /\}$/.test(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.on("error", reject);
    s.on("close", () => resolve(got));
  });
}

const call = (extra: string, body = "") =>
  `GET /internal/v1/session-token HTTP/1.1\r\nhost: bff\r\nx-sessiongate-app: ${WEB.id}\r\nx-sessiongate-session: ${session}\r\n${extra}\r\n${body}`;

describe("internal token path", () => {
  it("a token call with a content-length body, then another on the same connection: both answered, the body never parsed as a request", async () => {
    const out = await exchange(call("content-length: 5\r\n", "GET /") + call(""), 2);
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "200"]);
    expect((out.match(/"access_token"/g) ?? []).length).toBe(2);
  });

  it("a chunked token call, then another on the same connection: both answered", async () => {
    const out = await exchange(
      call("transfer-encoding: chunked\r\n", "5\r\nGET /\r\n0\r\n\r\n") + call(""),
      2,
    );
    const statuses = [...out.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(["200", "200"]);
  });

  it("a token call with a query string still reaches the token endpoint", async () => {
    const out = await exchange(call("").replace("session-token ", "session-token?x=1 "), 1);
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
  });
});
