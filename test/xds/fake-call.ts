// What the ADS state-machine tests drive the streams with, instead of grpc-js:
// a call that records what was written, and a seeded PRNG for the property tests.
import { EventEmitter } from "node:events";

/**
 * A server-side call whose peer reads only when told: while `reading` is false,
 * a write's `flushed` callback (the HTTP/2 stream taking the bytes) waits for
 * `flush()`; by default every write is taken at once.
 */
export class FakeCall<Res> extends EventEmitter {
  readonly written: Res[] = [];
  private readonly unflushed: (() => void)[] = [];
  reading = true;
  ended = false;
  write(res: Res, flushed?: () => void): boolean {
    this.written.push(res);
    if (flushed) this.unflushed.push(flushed);
    if (this.reading) this.flush();
    return true;
  }
  flush(): void {
    while (this.unflushed.length) this.unflushed.shift()!();
  }
  /** Writes not yet taken by the peer. */
  get waiting(): number {
    return this.unflushed.length;
  }
  end(): void {
    this.ended = true;
  }
}

/** mulberry32: a small seeded PRNG, numbers in [0, 1), so a failing property run can be replayed. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
