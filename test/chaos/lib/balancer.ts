// A TCP round-robin in front of the BFF replicas. The xds-server gives Envoy
// one address per BFF cluster (--bff-public / --bff-internal), so two replicas
// need something that spreads connections: this stands in for a Kubernetes
// Service / L4 load balancer. A backend that refuses a connection is skipped
// (and avoided for a second); connections to a killed replica are cut, as
// they would be by any L4 balancer.
import { connect, createServer, type Socket } from "node:net";
import { onCleanup } from "../../harness/index.js";

export interface Balancer {
  port: number;
  /** Connections handed to each backend so far. */
  connections: number[];
  /** Delay added to every reply chunk (backend → client), in order; 0 = none. Settable at any time. */
  delayMs: number;
  stop(): Promise<void>;
}

export async function startBalancer(backends: number[]): Promise<Balancer> {
  const self = { delayMs: 0 };
  const downUntil = backends.map(() => 0);
  const connections = backends.map(() => 0);
  const open = new Set<Socket>();
  let next = 0;

  const pipeTo = (client: Socket, attempt: number): void => {
    if (attempt >= backends.length) {
      client.destroy();
      return;
    }
    // Round-robin over the backends not marked down; all down: try anyway.
    let i = next++ % backends.length;
    for (let k = 0; k < backends.length && downUntil[i] > Date.now(); k++) i = (i + 1) % backends.length;
    const upstream = connect(backends[i], "127.0.0.1");
    open.add(upstream);
    upstream.once("close", () => open.delete(upstream));
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      connections[i]++;
      client.pipe(upstream);
      // Replies strictly in order (one queue, one timer): two timers due at the
      // same moment may fire in either order, which would corrupt the stream.
      const queue: { at: number; chunk: Buffer | null }[] = [];
      let timer: NodeJS.Timeout | undefined;
      const pump = () => {
        timer = undefined;
        while (queue.length && queue[0].at <= Date.now()) {
          const { chunk } = queue.shift()!;
          if (chunk === null) client.destroy();
          else if (!client.destroyed) client.write(chunk);
        }
        if (queue.length) timer = setTimeout(pump, queue[0].at - Date.now());
      };
      const enqueue = (chunk: Buffer | null) => {
        queue.push({ at: Date.now() + self.delayMs, chunk });
        if (!timer) pump();
      };
      upstream.on("data", (chunk: Buffer) => enqueue(chunk));
      upstream.once("close", () => enqueue(null));
      client.resume();
    });
    upstream.on("error", () => {
      if (!connected) {
        downUntil[i] = Date.now() + 1000;
        pipeTo(client, attempt + 1);
      } else client.destroy();
    });
    client.on("error", () => upstream.destroy());
    client.once("close", () => upstream.destroy());
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    pipeTo(client, 0);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const stop = () =>
    new Promise<void>((r) => {
      for (const s of open) s.destroy();
      server.close(() => r());
    });
  const unregister = onCleanup(stop);
  const addr = server.address();
  return Object.assign(self, {
    port: typeof addr === "object" && addr ? addr.port : 0,
    connections,
    stop: async () => {
      unregister();
      await stop();
    },
  });
}
