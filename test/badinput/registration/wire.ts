// Raw protobuf on the registration API: bytes with wrong wire types,
// truncations and junk, sent by a grpc-js client with identity serializers
// (the generated client would refuse to build them). `parses` is the oracle:
// the server's own schema decoding them or not decides the code to expect.
import { fromBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import {
  CreateAppRequestSchema,
  DeleteAppRequestSchema,
  GetAppRequestSchema,
} from "../../../protos/gen/sessiongate/v1/apps_pb.js";

const SVC = "/sessiongate.v1.AppRegistry";

const varint = (n: number): number[] => {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const tag = (field: number, wt: number) => varint(field * 8 + wt);
const bytes = (s: string) => [...Buffer.from(s, "utf8")];
const len = (field: number, b: number[]) => [...tag(field, 2), ...varint(b.length), ...b];

/** A field of the right number with a wire type the schema does not expect. */
const wrongWire = (field: number, expectLen: boolean) =>
  fc.constantFrom(...(expectLen ? [0, 1, 3, 4, 5, 6, 7] : [1, 2, 3, 4, 5, 6, 7])).chain((wt) =>
    fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 12 }).map((payload) => ({
      wt,
      b: [...tag(field, wt), ...(wt === 2 ? [...varint(payload.length), ...payload] : payload)],
    })),
  );

/**
 * An AppSpec body that is refused whatever the junk does to it: no upstreams
 * (so even a parse that drops the junk gives INVALID_ARGUMENT).
 */
function invalidSpec(): number[] {
  return [
    ...len(1, bytes("raw-app")),
    ...len(2, bytes("raw-app.test")),
    ...len(4, [...len(1, bytes("https://op.test")), ...len(2, bytes("c")), ...len(3, bytes("raw-s3cr3t"))]),
    ...len(7, [
      ...len(1, bytes("https://op.test")),
      ...len(2, bytes("api")),
      ...len(3, bytes("https://op.test/j")),
    ]),
  ];
}

export interface RawCall {
  method: "createApp" | "getApp" | "deleteApp";
  body: Uint8Array;
  label: string;
}

const SCHEMAS = {
  createApp: CreateAppRequestSchema,
  getApp: GetAppRequestSchema,
  deleteApp: DeleteAppRequestSchema,
};
const PATHS = { createApp: "CreateApp", getApp: "GetApp", deleteApp: "DeleteApp" };

/** Whether the server's schema decodes `body` (else grpc-js fails the call before any handler). */
export function parses(c: RawCall): boolean {
  try {
    fromBinary(SCHEMAS[c.method], c.body);
    return true;
  } catch {
    return false;
  }
}

const splice = (base: number[], at: number, ins: number[]) => [
  ...base.slice(0, at % (base.length + 1)),
  ...ins,
  ...base.slice(at % (base.length + 1)),
];

export const rawCall: fc.Arbitrary<RawCall> = fc.oneof(
  // A wrong wire type for an AppSpec field (1..10), inside the app message.
  fc.tuple(fc.integer({ min: 1, max: 10 }), fc.nat()).chain(([f, at]) =>
    wrongWire(f, true).map(({ wt, b }) => ({
      method: "createApp" as const,
      body: Uint8Array.from(len(1, splice(invalidSpec(), at, b))),
      label: `raw:app-field-${f}-wt${wt}`,
    })),
  ),
  // The request's own field 1 (app / id) with a wrong wire type.
  fc
    .tuple(fc.constantFrom("createApp" as const, "getApp" as const, "deleteApp" as const), wrongWire(1, true))
    .map(([method, { wt, b }]) => ({
      method,
      body: Uint8Array.from(b),
      label: `raw:${method}-field-1-wt${wt}`,
    })),
  // DeleteApp.revision (uint64) as a length-delimited or fixed field.
  wrongWire(2, false).map(({ wt, b }) => ({
    method: "deleteApp" as const,
    body: Uint8Array.from([...len(1, bytes("Bad_Id")), ...b]),
    label: `raw:delete-revision-wt${wt}`,
  })),
  // A valid encoding cut short.
  fc.integer({ min: 1, max: 200 }).map((cut) => {
    const full = len(1, invalidSpec());
    return {
      method: "createApp" as const,
      body: Uint8Array.from(full.slice(0, Math.max(1, full.length - cut))),
      label: "raw:truncated",
    };
  }),
  // Invalid UTF-8 in a string field, an over-long varint, a length past the end.
  fc.constantFrom(
    { method: "getApp" as const, body: Uint8Array.from([0x0a, 0x02, 0xff, 0xfe]), label: "raw:bad-utf8" },
    {
      method: "getApp" as const,
      body: Uint8Array.from([0x08, ...Array(10).fill(0x80), 0x01]),
      label: "raw:long-varint",
    },
    {
      method: "createApp" as const,
      body: Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]),
      label: "raw:length-past-end",
    },
  ),
  // Junk.
  fc
    .tuple(
      fc.constantFrom("createApp" as const, "getApp" as const, "deleteApp" as const),
      fc.uint8Array({ minLength: 1, maxLength: 256 }),
    )
    .map(([method, body]) => ({
      method,
      body,
      label: "raw:junk",
    })),
);

/** One raw unary call; resolves with the status (OK = 0). */
export function sendRaw(
  client: grpc.Client,
  c: RawCall,
  md: grpc.Metadata,
): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `${SVC}/${PATHS[c.method]}`,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      c.body,
      md,
      { deadline: Date.now() + 10_000 },
      (err) => resolve(err ?? null),
    );
  });
}

export function rawClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}
