// A SnapshotSource the ADS state-machine tests drive by hand: every node gets
// the snapshot set last, and `set` notifies the streams as the cache does.
import type { NodeSnapshot, SnapshotSource } from "../../xds-server/resource/types.js";

export class FakeSource implements SnapshotSource {
  private readonly subs = new Set<() => void>();
  constructor(public snap: NodeSnapshot) {}
  snapshotFor(): NodeSnapshot {
    return this.snap;
  }
  subscribe(cb: () => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }
  set(next: NodeSnapshot): void {
    this.snap = next;
    for (const cb of this.subs) cb();
  }
  get subscribers(): number {
    return this.subs.size;
  }
}
