// The CLI's exit codes (listed in its --help) and the gRPC status each stands for.
import * as grpc from "@grpc/grpc-js";

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  invalid: 3,
  notFound: 4,
  conflict: 5,
  auth: 6,
  unavailable: 7,
} as const;

export function exitFor(code: grpc.status): number {
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return EXIT.invalid;
    case grpc.status.NOT_FOUND:
      return EXIT.notFound;
    case grpc.status.ALREADY_EXISTS:
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.ABORTED:
      return EXIT.conflict;
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return EXIT.auth;
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return EXIT.unavailable;
    default:
      return EXIT.error;
  }
}
