// Steady load through Envoy while a fault happens: a few workers on keep-alive
// connections (like browsers), each sending a paced mix of logged-in requests
// (cookie → API; cookie → the BFF's session route) and anonymous ones
// (no cookie → API, which the edge must refuse; the login start). Every answer
// is recorded with its time, so recovery can be read off the timeline.
import { Agent, request } from "node:http";
import { COOKIE, HOST, type Session } from "./stack.js";

export type Kind = "session-api" | "session-bff" | "anon-api" | "anon-login";
export type SessionClass = "session" | "anon";
export type Outcome = "ok" | "refused" | "errored";

/** What each kind must get when all is well. */
export const EXPECTED: Record<Kind, number> = {
  "session-api": 200,
  "session-bff": 200,
  "anon-api": 401,
  "anon-login": 302,
};
const CYCLE: Kind[] = ["session-api", "anon-api", "session-api", "session-bff", "session-api", "anon-login"];

export interface Rec {
  /** Completion time (ms, Date.now()). */
  t: number;
  kind: Kind;
  cls: SessionClass;
  /** Session index, -1 for anonymous. */
  sess: number;
  /** HTTP status; 0 = no answer (connection error or timeout). */
  status: number;
  outcome: Outcome;
  /** Why an answer is not ok beyond its status: "wrong identity", "cookie cleared", an error code. */
  note?: string;
}

export function classify(kind: Kind, status: number): Outcome {
  if (status === EXPECTED[kind]) return "ok";
  if (status === 401 || status === 403 || status === 503) return "refused";
  return "errored";
}

interface Reply {
  status: number;
  body: string;
  setCookie: string[];
  error?: string;
}

function send(agent: Agent, port: number, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request(
      { host: "127.0.0.1", port, path, headers: { host: HOST, ...headers }, agent, timeout: 5000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers["set-cookie"] ?? [] }),
        );
        res.on("error", (e) =>
          resolve({ status: 0, body, setCookie: [], error: (e as NodeJS.ErrnoException).code }),
        );
      },
    );
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e) =>
      resolve({ status: 0, body: "", setCookie: [], error: (e as NodeJS.ErrnoException).code }),
    );
    req.end();
  });
}

const clearsSession = (line: string) =>
  line.startsWith(`${COOKIE}=;`) || (line.startsWith(`${COOKIE}=`) && /max-age=0/i.test(line));

export interface Load {
  records: Rec[];
  /** Stops the workers after their current request; resolves with every record. */
  stop(): Promise<Rec[]>;
}

export function startLoad(o: {
  port: number;
  sessions: Session[];
  workers: number;
  intervalMs: number;
}): Load {
  const records: Rec[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: o.workers });
  let running = true;
  let n = 0;
  const worker = async (w: number) => {
    let i = w;
    while (running) {
      const started = Date.now();
      const kind = CYCLE[i % CYCLE.length];
      const s = o.sessions[(n++ + w) % o.sessions.length];
      i++;
      const cls: SessionClass = kind.startsWith("session") ? "session" : "anon";
      const headers: Record<string, string> = cls === "session" ? { cookie: `${COOKIE}=${s.cookie}` } : {};
      const path =
        kind === "session-bff"
          ? "/auth/chaos/session"
          : kind === "anon-login"
            ? "/auth/chaos/login?return_to=%2F"
            : `/api/items/${n % 100}`;
      const r = await send(agent, o.port, path, headers);
      const rec: Rec = {
        t: Date.now(),
        kind,
        cls,
        sess: cls === "session" ? s.index : -1,
        status: r.status,
        outcome: classify(kind, r.status),
      };
      if (r.error) rec.note = r.error;
      if (kind === "session-api" && r.status === 200) {
        // The upstream answers with the verified token's subject: another user's is a mix-up.
        const sub = (() => {
          try {
            return (JSON.parse(r.body) as { sub?: string }).sub;
          } catch {
            return undefined;
          }
        })();
        if (sub !== s.user) {
          rec.outcome = "errored";
          rec.note = "wrong identity";
        }
      }
      // The filter's 401 clears the cookie: a browser would have lost this session.
      if (cls === "session" && r.setCookie.some(clearsSession)) rec.note = "cookie cleared";
      records.push(rec);
      const wait = o.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  };
  const workers = Array.from({ length: o.workers }, (_, w) => worker(w));
  return {
    records,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return records;
    },
  };
}
