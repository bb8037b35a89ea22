// The SotW and Delta state machines (ads/sotw.ts, ads/delta.ts), table-driven
// against a fake stream and a fake snapshot source, like go-control-plane's
// pkg/server/v3/server_test.go: requests and snapshot changes in; responses,
// nonces, ACK / NACK / current events and unsubscriptions out. Each step
// lists everything the stream writes and reports in answer, so a response
// too many fails as surely as one too few. The real-server and real-Envoy
// tests (ads.test.ts, *.e2e.test.ts) cover the same streams end to end.
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { DeltaStream } from "../../xds-server/ads/delta.js";
import { SotwStream } from "../../xds-server/ads/sotw.js";
import {
  type AckNack,
  type AdsObserver,
  type NodeSnapshot,
  TYPE_URLS,
  type TypeSnapshot,
  type VersionedResource,
} from "../../xds-server/resource/types.js";
import { FakeCall } from "./fake-call.js";
import { FakeSource } from "./fake-source.js";

const SHORT = {
  CDS: TYPE_URLS.cluster,
  EDS: TYPE_URLS.endpoint,
  ECDS: TYPE_URLS.ecds,
  LDS: TYPE_URLS.listener,
  RDS: TYPE_URLS.route,
} as const;
type Short = keyof typeof SHORT;
const shortOf = (url: string) => (Object.keys(SHORT) as Short[]).find((k) => SHORT[k] === url) ?? url;

/** A snapshot by type: resource name -> version. */
type SnapSpec = Partial<Record<Short, Record<string, string>>>;

function snapshot(spec: SnapSpec): NodeSnapshot {
  const types = new Map<string, TypeSnapshot>();
  for (const [short, resources] of Object.entries(spec) as [Short, Record<string, string>][]) {
    const url = SHORT[short];
    const map = new Map<string, VersionedResource>();
    for (const [name, version] of Object.entries(resources))
      map.set(name, {
        name,
        version,
        apps: [],
        // The payload names the resource and its version, so a response can be read back.
        any: create(AnySchema, { typeUrl: url, value: new TextEncoder().encode(`${name}@${version}`) }),
      });
    // Content-addressed, like the cache's: the same resources give the same version.
    const version = [...map.values()].map((r) => `${r.name}@${r.version}`).join(",");
    types.set(url, { version, resources: map });
  }
  return { revision: 1, appRevisions: new Map(), types };
}

/** The server side of a gRPC duplex stream, as far as the ADS streams use it. */
/** Observer events, as text: "connect", "ack CDS a,b", "nack RDS r: bad", "current LDS", "disconnect". */
function recorder(events: string[]): AdsObserver {
  const names = (e: AckNack) => `${shortOf(e.typeUrl)} ${[...e.names].sort().join(",")}`;
  return {
    onConnect: () => events.push("connect"),
    onDisconnect: () => events.push("disconnect"),
    onAck: (e) => events.push(`ack ${names(e)}`),
    onNack: (e) => events.push(`nack ${names(e)}: ${e.error}`),
    onCurrent: (_n, t) => events.push(`current ${shortOf(t)}`),
  };
}

const decoder = new TextDecoder();
const sotwText = (r: DiscoveryResponse) =>
  `${shortOf(r.typeUrl)}${r.versionInfo.includes("+hold") ? " (hold)" : ""} ${
    r.resources.map((a) => decoder.decode(a.value)).join(" ") || "(none)"
  }`;
const deltaText = (r: DeltaDiscoveryResponse) =>
  `${shortOf(r.typeUrl)} ${
    [...r.resources.map((x) => `+${x.name}@${x.version}`), ...r.removedResources.map((n) => `-${n}`)].join(
      " ",
    ) || "(empty)"
  }`;

/**
 * `ack`: answers the latest response of the type with its nonce (SotW: and its
 * version); "nack" the same with an error; "stale" answers the one before it;
 * "unknown" a nonce never sent.
 */
type Answer = "ack" | "nack" | "stale" | "unknown";

interface SotwReq {
  type: Short | "other";
  names?: string[];
  answer?: Answer;
  /** version_info of a first request (a reconnecting node). */
  version?: string;
  /** Leave the node out of the stream's first request. */
  noNode?: boolean;
}
interface DeltaReq {
  type: Short;
  subscribe?: string[];
  unsubscribe?: string[];
  answer?: Answer;
  initial?: Record<string, string>;
}

/** One step: a request, a snapshot change or the node closing; what the stream writes and reports. */
interface Step<Req> {
  send?: Req;
  snapshot?: SnapSpec;
  close?: true;
  out?: string[];
  events?: string[];
}

interface Case<Req> {
  name: string;
  initial: SnapSpec;
  steps: Step<Req>[];
  /** After the steps: the stream ended itself / is unsubscribed from the source. */
  ended?: boolean;
}

const NODE = { id: "n1", cluster: "gw" };

function run<Req, Res extends { typeUrl: string; nonce: string }>(
  c: Case<Req>,
  open: (call: FakeCall<Res>, src: FakeSource, obs: AdsObserver) => void,
  request: (req: Req, first: boolean, sent: Map<string, Res[]>) => unknown,
  text: (r: Res) => string,
) {
  const call = new FakeCall<Res>();
  const src = new FakeSource(snapshot(c.initial));
  const events: string[] = [];
  open(call, src, recorder(events));
  const sent = new Map<string, Res[]>();
  let first = true;
  for (const [i, step] of c.steps.entries()) {
    const before = call.written.length;
    events.length = 0;
    if (step.send) {
      call.emit("data", request(step.send, first, sent));
      first = false;
    }
    if (step.snapshot) src.set(snapshot(step.snapshot));
    if (step.close) call.emit("end");
    const out = call.written.slice(before);
    for (const r of out) sent.set(r.typeUrl, [...(sent.get(r.typeUrl) ?? []), r]);
    const label = `step ${i + 1}: ${JSON.stringify(step.send ?? step.snapshot ?? "close")}`;
    expect(out.map(text), label).toEqual(step.out ?? []);
    expect(events, label).toEqual(step.events ?? []);
  }
  // Nonces are never reused.
  const nonces = call.written.map((r) => r.nonce);
  expect(new Set(nonces).size).toBe(nonces.length);
  expect(call.ended).toBe(c.ended ?? false);
  if (c.ended) expect(src.subscribers).toBe(0);
}

/** The response an answer refers to, by the latest responses of its type. */
function answered<Res>(answer: Answer | undefined, list: Res[] | undefined): Res | undefined {
  if (!answer || answer === "unknown") return undefined;
  return answer === "stale" ? list?.at(-2) : list?.at(-1);
}

const silent = { warn: () => {} };

function sotwRequest(req: SotwReq, first: boolean, sent: Map<string, DiscoveryResponse[]>) {
  const typeUrl = req.type === "other" ? "type.googleapis.com/some.Other" : SHORT[req.type];
  const list = sent.get(typeUrl);
  const to = answered(req.answer, list);
  // A NACK carries the last version the node accepted.
  const accepted = req.answer === "nack" ? (list?.at(-2)?.versionInfo ?? "") : to?.versionInfo;
  return create(DiscoveryRequestSchema, {
    node: first && !req.noNode ? NODE : undefined,
    typeUrl,
    resourceNames: req.names ?? [],
    versionInfo: req.version ?? accepted ?? "",
    responseNonce: req.answer === "unknown" ? "no-such-nonce" : (to?.nonce ?? ""),
    errorDetail: req.answer === "nack" ? { code: 3, message: "bad" } : undefined,
  });
}

function deltaRequest(req: DeltaReq, first: boolean, sent: Map<string, DeltaDiscoveryResponse[]>) {
  const to = answered(req.answer, sent.get(SHORT[req.type]));
  return create(DeltaDiscoveryRequestSchema, {
    node: first ? NODE : undefined,
    typeUrl: SHORT[req.type],
    resourceNamesSubscribe: req.subscribe ?? [],
    resourceNamesUnsubscribe: req.unsubscribe ?? [],
    initialResourceVersions: req.initial ?? {},
    responseNonce: req.answer === "unknown" ? "no-such-nonce" : (to?.nonce ?? ""),
    errorDetail: req.answer === "nack" ? { code: 3, message: "bad" } : undefined,
  });
}

const C1 = { CDS: { a: "1", b: "1" } };

const SOTW: Case<SotwReq>[] = [
  {
    name: "a first wildcard request gets every cluster; its ACK is reported and answered with nothing",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"], events: ["connect"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
    ],
  },
  {
    name: "a NACKed version is never re-sent; the next version is",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"], events: ["connect"] },
      { snapshot: { CDS: { a: "2", b: "1" } }, out: ["CDS a@2 b@1"] },
      { send: { type: "CDS", answer: "nack" }, events: ["nack CDS a,b: bad"] },
      // Another snapshot object with the same clusters: nothing to send, and not current.
      { snapshot: { CDS: { a: "2", b: "1" } } },
      { snapshot: { CDS: { a: "3", b: "1" } }, out: ["CDS a@3 b@1"] },
      // Back to the refused version while a@3 is unanswered: not sent again...
      { snapshot: { CDS: { a: "2", b: "1" } } },
      // ...until the node has moved on from it.
      { send: { type: "CDS", answer: "ack" }, out: ["CDS a@2 b@1"], events: ["ack CDS a,b"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
    ],
  },
  {
    name: "an answer to a superseded or unknown nonce is ignored",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"], events: ["connect"] },
      { snapshot: { CDS: { a: "2", b: "1" } }, out: ["CDS a@2 b@1"] },
      { send: { type: "CDS", answer: "stale" } },
      { send: { type: "CDS", answer: "unknown" } },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
    ],
  },
  {
    name: "a named subscription gets the named resources it asks for; a changed subscription is answered",
    initial: { RDS: { r1: "1", r2: "1", r3: "1" } },
    steps: [
      { send: { type: "RDS", names: ["r2", "r1", "nope"] }, out: ["RDS r1@1 r2@1"], events: ["connect"] },
      {
        send: { type: "RDS", names: ["r2", "r1", "nope"], answer: "ack" },
        events: ["ack RDS r1,r2", "current RDS"],
      },
      { send: { type: "RDS", names: ["r3"], answer: "ack" }, out: ["RDS r3@1"] },
      // SotW versions are per type: a change outside the subscription re-sends the subscribed resources.
      { snapshot: { RDS: { r1: "2", r2: "1", r3: "1" } }, out: ["RDS r3@1"] },
    ],
  },
  {
    name: "EDS is not a wildcard type: a request with no names is answered with none",
    initial: { EDS: { e1: "1" } },
    steps: [{ send: { type: "EDS" }, out: ["EDS (none)"], events: ["connect"] }],
  },
  {
    name: "a reconnecting node that runs the current version is taken as ACKed and sent nothing",
    initial: C1,
    steps: [
      { send: { type: "CDS", version: "a@1,b@1" }, events: ["connect"] },
      { snapshot: { CDS: { a: "2", b: "1" } }, out: ["CDS a@2 b@1"] },
    ],
  },
  {
    name: "a reconnecting node with another version gets the current one",
    initial: C1,
    steps: [{ send: { type: "CDS", version: "a@0,b@1" }, out: ["CDS a@1 b@1"], events: ["connect"] }],
  },
  {
    name: "a snapshot change is pushed make-before-break: CDS, EDS, ECDS, LDS, RDS, whatever the subscription order",
    initial: { CDS: { c: "1" }, EDS: { c: "1" }, ECDS: { f: "1" }, LDS: { l: "1" }, RDS: { r: "1" } },
    steps: [
      { send: { type: "RDS", names: ["r"] }, out: ["RDS r@1"], events: ["connect"] },
      { send: { type: "LDS" }, out: ["LDS l@1"] },
      { send: { type: "ECDS", names: ["f"] }, out: ["ECDS f@1"] },
      { send: { type: "EDS", names: ["c"] }, out: ["EDS c@1"] },
      { send: { type: "CDS" }, out: ["CDS c@1"] },
      {
        snapshot: { CDS: { c: "2" }, EDS: { c: "2" }, ECDS: { f: "2" }, LDS: { l: "2" }, RDS: { r: "2" } },
        out: ["CDS c@2", "EDS c@2", "ECDS f@2", "LDS l@2", "RDS r@2"],
      },
    ],
  },
  {
    name: "a removed cluster is held until the listeners and routes that named it are settled",
    initial: { CDS: { a: "1", b: "1" }, LDS: { l: "1" }, RDS: { r: "1" } },
    steps: [
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"], events: ["connect"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
      { send: { type: "LDS" }, out: ["LDS l@1"] },
      { send: { type: "LDS", answer: "ack" }, events: ["ack LDS l", "current LDS"] },
      { send: { type: "RDS", names: ["r"] }, out: ["RDS r@1"] },
      { send: { type: "RDS", names: ["r"], answer: "ack" }, events: ["ack RDS r", "current RDS"] },
      // b is gone and the routes move off it: CDS keeps b until LDS and RDS are answered.
      {
        snapshot: { CDS: { a: "1" }, LDS: { l: "2" }, RDS: { r: "2" } },
        out: ["CDS (hold) a@1 b@1", "LDS l@2", "RDS r@2"],
      },
      { send: { type: "LDS", answer: "ack" }, events: ["ack LDS l", "current LDS"] },
      // A NACK settles the routes too (the node keeps its old ones, which Envoy already validated).
      { send: { type: "RDS", names: ["r"], answer: "nack" }, out: ["CDS a@1"], events: ["nack RDS r: bad"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a", "current CDS"] },
    ],
  },
  {
    name: "an unsupported type is ignored; the stream stays open",
    initial: C1,
    steps: [
      { send: { type: "other" }, events: ["connect"] },
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"] },
    ],
  },
  {
    name: "a first request without a node closes the stream",
    initial: C1,
    steps: [{ send: { type: "CDS", noNode: true } }, { snapshot: { CDS: { a: "2" } } }],
    ended: true,
  },
  {
    name: "the node closing the stream unsubscribes it: later snapshots write nothing",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS a@1 b@1"], events: ["connect"] },
      { close: true, events: ["disconnect"] },
      { snapshot: { CDS: { a: "2" } } },
    ],
    ended: true,
  },
];

const DELTA: Case<DeltaReq>[] = [
  {
    name: "a wildcard subscription gets every cluster; the ACK names what it answered",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
    ],
  },
  {
    name: "a change sends only what changed; a removed cluster goes in a response of its own, after",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { send: { type: "CDS", answer: "ack" }, events: ["ack CDS a,b", "current CDS"] },
      { snapshot: { CDS: { b: "2", c: "1" } }, out: ["CDS +b@2 +c@1", "CDS -a"] },
    ],
  },
  {
    name: "a NACKed resource is not re-sent until it changes",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { snapshot: { CDS: { a: "2", b: "1" } }, out: ["CDS +a@2"] },
      { send: { type: "CDS", answer: "nack" }, events: ["nack CDS a: bad"] },
      // The answer to the first response (still pending) is an ACK.
      { send: { type: "CDS", answer: "stale" }, events: ["ack CDS a,b", "current CDS"] },
      { snapshot: { CDS: { a: "2", b: "1" } }, events: ["current CDS"] },
      { snapshot: { CDS: { a: "3", b: "1" } }, out: ["CDS +a@3"] },
      { send: { type: "CDS", answer: "unknown" } },
    ],
  },
  {
    name: "named subscriptions: subscribe adds, unsubscribe stops updates without a removal",
    initial: { RDS: { r1: "1", r2: "1" } },
    steps: [
      { send: { type: "RDS", subscribe: ["r1"] }, out: ["RDS +r1@1"], events: ["connect"] },
      { send: { type: "RDS", subscribe: ["r2"], answer: "ack" }, out: ["RDS +r2@1"], events: ["ack RDS r1"] },
      { send: { type: "RDS", unsubscribe: ["r1"], answer: "ack" }, events: ["ack RDS r2", "current RDS"] },
      { snapshot: { RDS: { r1: "2", r2: "1" } }, events: ["current RDS"] },
      { snapshot: { RDS: { r1: "2", r2: "2" } }, out: ["RDS +r2@2"] },
    ],
  },
  {
    name: "a new subscription to a resource the node holds re-sends it, unless the node gives its version",
    initial: { RDS: { r1: "1", r2: "1" } },
    steps: [
      { send: { type: "RDS", subscribe: ["*"] }, out: ["RDS +r1@1 +r2@1"], events: ["connect"] },
      {
        send: { type: "RDS", subscribe: ["r1"], answer: "ack" },
        out: ["RDS +r1@1"],
        events: ["ack RDS r1,r2"],
      },
      {
        send: { type: "RDS", subscribe: ["r2"], initial: { r2: "1" }, answer: "ack" },
        events: ["ack RDS r1", "current RDS"],
      },
    ],
  },
  {
    name: "a subscription to names that do not exist is still answered, once, so the node's init does not wait",
    initial: { RDS: { r1: "1" } },
    steps: [
      { send: { type: "RDS", subscribe: ["nope"] }, out: ["RDS (empty)"], events: ["connect"] },
      { send: { type: "RDS", answer: "ack" }, events: ["ack RDS ", "current RDS"] },
    ],
  },
  {
    name: "a reconnecting node's initial versions: only what differs is sent, and what is gone is removed",
    initial: { CDS: { a: "1", b: "2" } },
    steps: [
      {
        send: { type: "CDS", initial: { a: "1", b: "1", gone: "1" } },
        out: ["CDS +b@2 -gone"],
        events: ["connect"],
      },
    ],
  },
  {
    name: "a reconnecting node that has everything gets one empty answer",
    initial: C1,
    steps: [
      { send: { type: "CDS", initial: { a: "1", b: "1" } }, out: ["CDS (empty)"], events: ["connect"] },
    ],
  },
  {
    name: "unsubscribing the wildcard removes what is not named",
    initial: C1,
    steps: [
      { send: { type: "CDS", subscribe: ["*", "a"] }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { send: { type: "CDS", unsubscribe: ["*"], answer: "ack" }, out: ["CDS -b"], events: ["ack CDS a,b"] },
    ],
  },
  {
    name: "a removed cluster waits for the ECDS and RDS answers to the change that dropped it",
    initial: { CDS: { a: "1", b: "1" }, ECDS: { f: "1" }, RDS: { r: "1" } },
    steps: [
      { send: { type: "CDS" }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { send: { type: "ECDS", subscribe: ["f"], answer: "ack" }, out: ["ECDS +f@1"], events: [] },
      { send: { type: "ECDS", answer: "ack" }, events: ["ack ECDS f", "current ECDS"] },
      { send: { type: "RDS", subscribe: ["r"] }, out: ["RDS +r@1"] },
      { send: { type: "RDS", answer: "ack" }, events: ["ack RDS r", "current RDS"] },
      { snapshot: { CDS: { a: "1" }, ECDS: { f: "2" }, RDS: { r: "2" } }, out: ["ECDS +f@2", "RDS +r@2"] },
      { send: { type: "RDS", answer: "ack" }, events: ["ack RDS r", "current RDS"] },
      { send: { type: "ECDS", answer: "ack" }, out: ["CDS -b"], events: ["ack ECDS f", "current ECDS"] },
    ],
  },
  {
    name: "the node closing the stream unsubscribes it",
    initial: C1,
    steps: [
      { send: { type: "CDS" }, out: ["CDS +a@1 +b@1"], events: ["connect"] },
      { close: true, events: ["disconnect"] },
      { snapshot: { CDS: { a: "2" } } },
    ],
    ended: true,
  },
];

describe("SotW state machine", () => {
  it.each(SOTW.map((c) => [c.name, c] as const))("%s", (_name, c) =>
    run<SotwReq, DiscoveryResponse>(
      c,
      (call, src, obs) => new SotwStream(call as never, src, obs, silent),
      sotwRequest,
      sotwText,
    ),
  );
});

describe("Delta state machine", () => {
  it.each(DELTA.map((c) => [c.name, c] as const))("%s", (_name, c) =>
    run<DeltaReq, DeltaDiscoveryResponse>(
      c,
      (call, src, obs) => new DeltaStream(call as never, src, obs, silent),
      deltaRequest,
      deltaText,
    ),
  );
});
