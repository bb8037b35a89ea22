// The ADS gRPC service (SotW + Delta): each stream gets its own state machine.
import * as grpc from "@grpc/grpc-js";
import { AggregatedDiscoveryService } from "../../protos/gen/envoy/service/discovery/v3/ads_pb.js";
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from "../../protos/gen/envoy/service/discovery/v3/discovery_pb.js";
import { serviceDefinition } from "../resource/grpc.js";
import type { AdsObserver, SnapshotSource } from "../resource/types.js";
import type { NodeGate } from "./auth.js";
import { DeltaStream } from "./delta.js";
import { SotwStream } from "./sotw.js";
import { encodeDeltaResponse, encodeSotwResponse } from "./wire.js";

const generic = serviceDefinition(AggregatedDiscoveryService);

/** The generic definition, with responses serialized by ads/wire.ts (each resource's bytes copied once). */
export const AdsServiceDefinition: typeof generic = {
  ...generic,
  streamAggregatedResources: { ...generic.streamAggregatedResources, responseSerialize: encodeSotwResponse },
  deltaAggregatedResources: { ...generic.deltaAggregatedResources, responseSerialize: encodeDeltaResponse },
};

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
