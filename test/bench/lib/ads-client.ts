// A simulated Envoy on an ADS stream (SotW or Delta): subscribes to every
// resource type ("*"), ACKs each response like Envoy does, and counts the
// bytes and resources it was sent, so a one-app change can be priced.
import * as grpc from "@grpc/grpc-js";
import { AdsServiceDefinition } from "../../../xds-server/ads/service.js";

export const ADS_TYPES = [
  "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  "type.googleapis.com/envoy.config.listener.v3.Listener",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  // The wasm and jwt_authn filter configs (ECDS): part of what one app change costs.
  "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
  // VHDS (Delta only; a SotW subscription to it gets nothing): each host's virtual host.
  "type.googleapis.com/envoy.config.route.v3.VirtualHost",
];

/** The short name of a type URL ("Cluster", "VirtualHost", ...). */
export const shortType = (typeUrl: string) => typeUrl.split(".").at(-1) ?? typeUrl;

export interface AdsSim {
  mode: "sotw" | "delta";
  bytes: number;
  /** Wire bytes per resource type (short name, e.g. "VirtualHost"). */
  bytesByType: Record<string, number>;
  responses: number;
  resources: number;
  /** Time of the last response (ms since epoch). */
  lastAt: number;
  /** Why the stream failed, if it did (its figures are then not to be used). */
  error?: string;
  close(): void;
}

interface SotwResponse {
  typeUrl: string;
  versionInfo: string;
  nonce: string;
  resources: unknown[];
}
interface DeltaResponse {
  typeUrl: string;
  nonce: string;
  resources: unknown[];
  removedResources: string[];
}

export function startAdsSim(
  target: string,
  mode: "sotw" | "delta",
  nodeId: string,
  listenerPort: number,
): AdsSim {
  const sim: AdsSim = {
    mode,
    bytes: 0,
    bytesByType: {},
    responses: 0,
    resources: 0,
    lastAt: 0,
    close: () => {},
  };
  let closing = false;
  // Size of the message being deserialized; its "data" event follows at once.
  let lastSize = 0;
  const byType = (typeUrl: string) => {
    const k = shortType(typeUrl);
    sim.bytesByType[k] = (sim.bytesByType[k] ?? 0) + lastSize;
  };
  // Wrap the deserializers to count the wire bytes of every response.
  const count =
    <T>(orig: (b: Buffer) => T) =>
    (b: Buffer) => {
      sim.bytes += b.length;
      lastSize = b.length;
      sim.lastAt = Date.now();
      return orig(b);
    };
  const def = {
    streamAggregatedResources: {
      ...AdsServiceDefinition.streamAggregatedResources,
      responseDeserialize: count(AdsServiceDefinition.streamAggregatedResources.responseDeserialize),
    },
    deltaAggregatedResources: {
      ...AdsServiceDefinition.deltaAggregatedResources,
      responseDeserialize: count(AdsServiceDefinition.deltaAggregatedResources.responseDeserialize),
    },
  };
  const Client = grpc.makeGenericClientConstructor(def, "AggregatedDiscoveryService");
  // No 4 MB receive limit: at 10,000 apps a first CDS / VHDS response or a SotW
  // RouteConfiguration is larger (Envoy has no such limit); with it the stream
  // failed silently and the node counted nothing.
  const client = new Client(target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": -1,
  });
  const node = {
    id: nodeId,
    cluster: "sessiongate-gateway",
    metadata: { role: "gateway", listener_address: "127.0.0.1", listener_port: listenerPort },
  };
  // biome-ignore lint/suspicious/noExplicitAny: generic client methods.
  const c = client as any;
  if (mode === "sotw") {
    const call: grpc.ClientDuplexStream<unknown, SotwResponse> = c.streamAggregatedResources();
    call.on("data", (r: SotwResponse) => {
      byType(r.typeUrl);
      sim.responses++;
      sim.resources += r.resources.length;
      call.write({
        typeUrl: r.typeUrl,
        versionInfo: r.versionInfo,
        responseNonce: r.nonce,
        resourceNames: ["*"],
      });
    });
    call.on("error", (e: Error) => {
      if (!closing) sim.error = e.message;
    });
    for (const [i, t] of ADS_TYPES.entries()) {
      call.write({ node: i === 0 ? node : undefined, typeUrl: t, resourceNames: ["*"] });
    }
    sim.close = () => {
      closing = true;
      call.cancel();
      client.close();
    };
  } else {
    const call: grpc.ClientDuplexStream<unknown, DeltaResponse> = c.deltaAggregatedResources();
    call.on("data", (r: DeltaResponse) => {
      byType(r.typeUrl);
      sim.responses++;
      sim.resources += r.resources.length + r.removedResources.length;
      call.write({ typeUrl: r.typeUrl, responseNonce: r.nonce });
    });
    call.on("error", (e: Error) => {
      if (!closing) sim.error = e.message;
    });
    for (const [i, t] of ADS_TYPES.entries()) {
      call.write({ node: i === 0 ? node : undefined, typeUrl: t, resourceNamesSubscribe: ["*"] });
    }
    sim.close = () => {
      closing = true;
      call.cancel();
      client.close();
    };
  }
  return sim;
}

/** Resolves once none of `sims` received anything for `quietMs` (bounded by `maxMs`). */
export async function settle(sims: AdsSim[], quietMs: number, maxMs: number): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const last = Math.max(0, ...sims.map((s) => s.lastAt));
    if (last > 0 && Date.now() - last >= quietMs) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
