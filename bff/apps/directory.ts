// gRPC client of sessiongate.v1.BffDirectory. Defined here over the generated
// protobuf-es messages (not imported from xds-server/) so the BFF loads no
// control-plane code.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  BffAppEventSchema,
  type WatchBffAppsRequest,
  WatchBffAppsRequestSchema,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import type { RegistryConfig } from "../config/schema.js";

const definition = {
  watchBffApps: {
    path: "/sessiongate.v1.BffDirectory/WatchBffApps",
    requestStream: false,
    responseStream: true,
    requestSerialize: (m: WatchBffAppsRequest) => Buffer.from(toBinary(WatchBffAppsRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(WatchBffAppsRequestSchema, b),
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: (b: Buffer) => fromBinary(BffAppEventSchema, b),
  },
} satisfies grpc.ServiceDefinition;

export const BffDirectoryClient = grpc.makeGenericClientConstructor(definition, "BffDirectory");
export type DirectoryClient = InstanceType<typeof BffDirectoryClient>;

export function connectDirectory(cfg: RegistryConfig): DirectoryClient {
  const creds = cfg.tls
    ? grpc.credentials.createSsl(cfg.tls.ca ?? null, cfg.tls.key ?? null, cfg.tls.cert ?? null)
    : grpc.credentials.createInsecure();
  // Keepalive notices a dead control plane on an idle stream (no events for hours).
  return new BffDirectoryClient(cfg.address, creds, {
    "grpc.keepalive_time_ms": 20_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
  });
}
