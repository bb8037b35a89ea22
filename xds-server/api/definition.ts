// sessiongate.v1.AppRegistry's gRPC service definition and client (used by
// the server and the CLI).
import * as grpc from "@grpc/grpc-js";
import { AppRegistry } from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { serviceDefinition } from "../resource/grpc.js";

export const AppRegistryDefinition = serviceDefinition(AppRegistry);

export const AppRegistryClient = grpc.makeGenericClientConstructor(AppRegistryDefinition, "AppRegistry");
