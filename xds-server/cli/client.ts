// gRPC client for the registration API; the bearer token goes in each call's
// metadata (grpc-js refuses call credentials on plaintext channels, and the
// API binds to loopback by default).
import * as grpc from "@grpc/grpc-js";
import { AppRegistryClient } from "../api/definition.js";

export interface Client {
  raw: InstanceType<typeof AppRegistryClient>;
  metadata(): grpc.Metadata;
  unary<Req, Res>(method: string, req: Req, deadlineMs: number): Promise<Res>;
  close(): void;
}

export interface Tls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export function connect(server: string, token: string, tls?: Tls): Client {
  const creds = tls
    ? grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null)
    : grpc.credentials.createInsecure();
  const raw = new AppRegistryClient(server, creds);
  const metadata = () => {
    const md = new grpc.Metadata();
    if (token) md.set("authorization", `Bearer ${token}`);
    return md;
  };
  return {
    raw,
    metadata,
    unary: <Req, Res>(method: string, req: Req, deadlineMs: number) =>
      new Promise<Res>((resolve, reject) => {
        // biome-ignore lint/suspicious/noExplicitAny: generic client method lookup.
        (raw as any)[method](
          req,
          metadata(),
          { deadline: Date.now() + deadlineMs },
          (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)),
        );
      }),
    close: () => raw.close(),
  };
}
