// The ADS gRPC service (SotW + Delta), defined by hand over protobuf-es
// serializers so no proto loader is needed at run time.

import type { Message } from "@bufbuild/protobuf";
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import {
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  type DiscoveryRequest,
  DiscoveryRequestSchema,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import type { NodeGate } from "./auth.js";
import { DeltaStream } from "./delta.js";
import { SotwStream } from "./sotw.js";
import type { AdsObserver, SnapshotSource } from "./types.js";

export function codec<T extends Message>(schema: GenMessage<T>) {
  return {
    // Accepts plain init objects too (client convenience): create() fills defaults.
    // biome-ignore lint/suspicious/noExplicitAny: init shape of T.
    serialize: (m: T) => Buffer.from(toBinary(schema, isMessage(m, schema) ? m : create(schema, m as any))),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  };
}

const SVC = "/envoy.service.discovery.v3.AggregatedDiscoveryService";
const sotw = { req: codec(DiscoveryRequestSchema), res: codec(DiscoveryResponseSchema) };
const delta = { req: codec(DeltaDiscoveryRequestSchema), res: codec(DeltaDiscoveryResponseSchema) };

export const AdsServiceDefinition = {
  streamAggregatedResources: {
    path: `${SVC}/StreamAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: sotw.req.serialize,
    requestDeserialize: sotw.req.deserialize,
    responseSerialize: sotw.res.serialize,
    responseDeserialize: sotw.res.deserialize,
  },
  deltaAggregatedResources: {
    path: `${SVC}/DeltaAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: delta.req.serialize,
    requestDeserialize: delta.req.deserialize,
    responseSerialize: delta.res.serialize,
    responseDeserialize: delta.res.deserialize,
  },
} satisfies grpc.ServiceDefinition;

export const AdsClient = grpc.makeGenericClientConstructor(
  AdsServiceDefinition,
  "AggregatedDiscoveryService",
);

export function addAdsService(
  server: grpc.Server,
  source: SnapshotSource,
  obs: AdsObserver,
  log: { warn: (o: object, m: string) => void },
  gate?: NodeGate,
): void {
  server.addService(AdsServiceDefinition, {
    streamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
      new SotwStream(call, source, obs, log, gate);
    },
    deltaAggregatedResources: (
      call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
    ) => {
      new DeltaStream(call, source, obs, log, gate);
    },
  });
}
