// One builder for every gRPC service of the project: a @grpc/grpc-js service
// definition derived from the service descriptor protoc-gen-es generates
// (method paths, streaming kinds, protobuf-es codecs), so no service is
// written out by hand and no proto loader is needed at run time.
import {
  create,
  type DescMessage,
  fromBinary,
  isMessage,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type * as grpc from "@grpc/grpc-js";

function codec<D extends DescMessage>(schema: D) {
  return {
    // Accepts plain init objects too (client convenience): create() fills defaults.
    serialize: (m: MessageShape<D>) =>
      // biome-ignore lint/suspicious/noExplicitAny: init shape of the message.
      Buffer.from(toBinary(schema, isMessage(m, schema) ? m : create(schema, m as any))),
    deserialize: (b: Buffer) => fromBinary(schema, b),
  };
}

export type ServiceDefinition<M extends GenServiceMethods> = {
  [K in keyof M]: grpc.MethodDefinition<MessageShape<M[K]["input"]>, MessageShape<M[K]["output"]>>;
};

/** The service definition for a generated service descriptor (e.g. `AppRegistry` from apps_pb.js). */
export function serviceDefinition<M extends GenServiceMethods>(service: GenService<M>): ServiceDefinition<M> {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    const req = codec(m.input);
    const res = codec(m.output);
    out[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: req.serialize,
      requestDeserialize: req.deserialize,
      responseSerialize: res.serialize,
      responseDeserialize: res.deserialize,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return out as ServiceDefinition<M>;
}
