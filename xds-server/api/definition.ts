// sessiongate.v1.AppRegistry as a @grpc/grpc-js service definition over
// protobuf-es codecs (used by the server and the CLI).
import * as grpc from "@grpc/grpc-js";
import {
  AppEventSchema,
  AppSchema,
  CreateAppRequestSchema,
  DeleteAppRequestSchema,
  DeleteAppResponseSchema,
  GetAppRequestSchema,
  ListAppsRequestSchema,
  ListAppsResponseSchema,
  UpdateAppRequestSchema,
  WatchAppsRequestSchema,
} from "../../protos/gen/sessiongate/v1/apps_pb.js";
import { codec } from "../ads/service.js";

const SVC = "/sessiongate.v1.AppRegistry";

// biome-ignore lint/suspicious/noExplicitAny: generic over the schema pairs below.
function method(name: string, req: any, res: any, responseStream = false) {
  const a = codec(req);
  const b = codec(res);
  return {
    path: `${SVC}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: a.serialize,
    requestDeserialize: a.deserialize,
    responseSerialize: b.serialize,
    responseDeserialize: b.deserialize,
  };
}

export const AppRegistryDefinition = {
  createApp: method("CreateApp", CreateAppRequestSchema, AppSchema),
  updateApp: method("UpdateApp", UpdateAppRequestSchema, AppSchema),
  deleteApp: method("DeleteApp", DeleteAppRequestSchema, DeleteAppResponseSchema),
  getApp: method("GetApp", GetAppRequestSchema, AppSchema),
  listApps: method("ListApps", ListAppsRequestSchema, ListAppsResponseSchema),
  watchApps: method("WatchApps", WatchAppsRequestSchema, AppEventSchema, true),
} satisfies grpc.ServiceDefinition;

export const AppRegistryClient = grpc.makeGenericClientConstructor(AppRegistryDefinition, "AppRegistry");
