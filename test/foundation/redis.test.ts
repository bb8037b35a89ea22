import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startRedis } from "../harness/index.js";

describe("redis-server from the harness", () => {
  it("answers PING and keeps a value", async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      expect(await client.ping()).toBe("PONG");
      await client.set("sessiongate:probe", "1");
      expect(await client.get("sessiongate:probe")).toBe("1");
    } finally {
      client.disconnect();
    }
  });

  it("can be killed and restarted on the same port", async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on("error", () => {});
    try {
      expect(await client.ping()).toBe("PONG");
      await redis.kill();
      await expect(client.ping()).rejects.toThrow();
      await redis.restart();
      await new Promise((r) => setTimeout(r, 300));
      expect(await client.ping()).toBe("PONG");
    } finally {
      client.disconnect();
    }
  });
});
