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
  /** Latency: from when the request was due to its answer (or error), ms — client queueing included. */
  ms: number;
  /** From when it had a connection to its answer, ms: the time the gateway held it. */
  serviceMs: number;
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
  /** When the request got a connection (Date.now()): the wait before it is the client's queue. */
  sentAt: number;
  status: number;
  body: string;
  setCookie: string[];
  error?: string;
}

function send(agent: Agent, port: number, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve) => {
    let sentAt = Date.now();
    const req = request(
      { host: "127.0.0.1", port, path, headers: { host: HOST, ...headers }, agent, timeout: 5000 },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body += d));
        res.on("end", () =>
          resolve({ sentAt, status: res.statusCode ?? 0, body, setCookie: res.headers["set-cookie"] ?? [] }),
        );
        res.on("error", (e) =>
          resolve({ sentAt, status: 0, body, setCookie: [], error: (e as NodeJS.ErrnoException).code }),
        );
      },
    );
    req.on("socket", () => {
      sentAt = Date.now();
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (e) =>
      resolve({ sentAt, status: 0, body: "", setCookie: [], error: (e as NodeJS.ErrnoException).code }),
    );
    req.end();
  });
}

const clearsSession = (line: string) =>
  line.startsWith(`${COOKIE}=;`) || (line.startsWith(`${COOKIE}=`) && /max-age=0/i.test(line));

export interface Load {
  records: Rec[];
  /** Open loop: arrivals not sent because `maxInFlight` requests were already waiting (the client's queue was full). */
  notSent: number;
  /** Stops the workers after their current request; resolves with every record. */
  stop(): Promise<Rec[]>;
}

/** One request of `kind` for session `s` (anonymous kinds ignore it), classified. `from`: when it was due. */
async function oneRequest(
  agent: Agent,
  port: number,
  kind: Kind,
  s: Session,
  n: number,
  from: number,
): Promise<Rec> {
  const cls: SessionClass = kind.startsWith("session") ? "session" : "anon";
  const headers: Record<string, string> = cls === "session" ? { cookie: `${COOKIE}=${s.cookie}` } : {};
  const path =
    kind === "session-bff"
      ? "/auth/chaos/session"
      : kind === "anon-login"
        ? "/auth/chaos/login?return_to=%2F"
        : `/api/items/${n % 100}`;
  const r = await send(agent, port, path, headers);
  const done = Date.now();
  const rec: Rec = {
    t: done,
    ms: done - from,
    serviceMs: done - r.sentAt,
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
  return rec;
}

/** Closed loop: `workers` connections, each one request per `intervalMs` at most (the low-rate run). */
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
      records.push(await oneRequest(agent, o.port, kind, s, n, started));
      const wait = o.intervalMs - (Date.now() - started);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  };
  const workers = Array.from({ length: o.workers }, (_, w) => worker(w));
  return {
    records,
    notSent: 0,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return records;
    },
  };
}

/**
 * Open loop: requests start at `ratePerS` whatever the answers do, so a slow
 * part shows as a queue and as latency (measured from when each request was
 * due, not when it could be sent). At most `maxInFlight` wait at once; an
 * arrival beyond that is counted as not sent (the queue is already far
 * longer than any timeout) rather than queued without bound in this process.
 */
export function startOpenLoad(o: {
  port: number;
  sessions: Session[];
  ratePerS: number;
  connections: number;
  maxInFlight?: number;
}): Load {
  const records: Rec[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const maxInFlight = o.maxInFlight ?? 2000;
  const inFlight = new Set<Promise<void>>();
  const started = Date.now();
  let sent = 0;
  let running = true;
  const tick = () => {
    if (!running) return;
    // Every arrival due by now, at its own due time (timers are coarse under load).
    const due = Math.floor(((Date.now() - started) / 1000) * o.ratePerS);
    for (; sent < due; sent++) {
      const at = started + (sent * 1000) / o.ratePerS;
      const kind = CYCLE[sent % CYCLE.length];
      const s = o.sessions[Math.floor(sent / CYCLE.length) % o.sessions.length];
      if (inFlight.size >= maxInFlight) {
        load.notSent++;
        continue;
      }
      const p: Promise<void> = oneRequest(agent, o.port, kind, s, sent, at).then((r) => {
        records.push(r);
        inFlight.delete(p);
      });
      inFlight.add(p);
    }
    timer = setTimeout(tick, 5);
  };
  let timer = setTimeout(tick, 0);
  const load: Load = {
    records,
    notSent: 0,
    stop: async () => {
      running = false;
      clearTimeout(timer);
      await Promise.all([...inFlight]);
      agent.destroy();
      return records;
    },
  };
  return load;
}

/**
 * The stack's throughput on this machine now: `connections` closed-loop
 * clients as fast as answers come, for `seconds`, on the same request mix.
 * Answers per second (whatever their status: the point is the capacity).
 */
export async function measureThroughput(o: {
  port: number;
  sessions: Session[];
  connections: number;
  seconds: number;
}): Promise<{ perS: number; p50Ms: number; p99Ms: number; notOk: number }> {
  const load = startLoad({ port: o.port, sessions: o.sessions, workers: o.connections, intervalMs: 0 });
  await new Promise((r) => setTimeout(r, o.seconds * 1000));
  const recs = await load.stop();
  const ms = recs.map((r) => r.ms).sort((a, b) => a - b);
  const at = (p: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)] : 0);
  return {
    perS: recs.length / o.seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    notOk: recs.filter((r) => r.outcome !== "ok").length,
  };
}
