// What operators probe: grpc.health.v1 on the ADS and API ports
// (grpc-health-check), and gRPC server reflection on the registration API
// (@grpc/reflection), so grpcurl / grpc_health_probe work without .proto files.
import { type DescFile, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { file_sessiongate_v1_apps } from "../protos/gen/sessiongate/v1/apps_pb.js";

export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const API_SERVICES = ["sessiongate.v1.AppRegistry", "sessiongate.v1.BffDirectory"];

/** One health service per port: "" (the whole server) and each service it hosts start NOT_SERVING. */
export class Health {
  private readonly impl: HealthImplementation;

  constructor(
    server: grpc.Server,
    private readonly services: string[],
  ) {
    this.impl = new HealthImplementation(
      Object.fromEntries(["", ...services].map((s) => [s, "NOT_SERVING"])),
    );
    this.impl.addToServer(server);
  }

  set(status: ServingStatus): void {
    for (const s of ["", ...this.services]) this.impl.setStatus(s, status);
  }
}

/** A file and everything it imports, each once, dependencies first. */
function withDependencies(f: DescFile, seen = new Set<string>()): DescFile[] {
  if (seen.has(f.name)) return [];
  seen.add(f.name);
  return [...f.dependencies.flatMap((d) => withDependencies(d, seen)), f];
}

/** Reflection for sessiongate.v1 from the protobuf-es descriptors (no proto loader at run time). */
export function addReflection(server: grpc.Server): void {
  const fileDescriptorProtos = withDependencies(file_sessiongate_v1_apps).map((f) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)),
  );
  // The package definition shape @grpc/reflection reads: any object carrying
  // fileDescriptorProtos (proto-loader's, built here from the same descriptors).
  const pkg = {
    "sessiongate.v1": { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos },
  };
  new ReflectionService(pkg as never, { services: API_SERVICES }).addToServer(server);
}
