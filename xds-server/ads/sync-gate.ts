// A server-wide bound on ADS streams doing their initial (full) sync at once
// (like Istio's push throttle). A node's first sync at 10,000 apps is ~12 MB of
// responses; a hundred nodes connecting together (a restart of the server or of
// a fleet) each serialize and buffer theirs at the same time, and the garbage
// and buffers of that burst stay in the process's RSS afterwards. A stream
// waiting for a slot only starts writing later; streams already synced never
// wait (their per-change pushes are small).

/** A granted or queued turn: `release` gives the slot back or leaves the queue (idempotent). */
export interface SyncTurn {
  release(): void;
}

export class SyncGate {
  private active = 0;
  /** Waiting turns in arrival order (FIFO); deleting a cancelled one is O(1). */
  private readonly waiting = new Set<() => void>();

  /**
   * @param limit streams syncing at once (0: no bound)
   * @param holdMs longest a stream keeps its slot: a node that stops reading
   *   mid-sync (its writes held by HTTP/2 flow control) or reads very slowly
   *   loses the slot then and finishes its sync without one, so it cannot
   *   keep the others waiting (its own output stays bounded per stream).
   */
  constructor(
    readonly limit: number,
    readonly holdMs: number,
  ) {}

  /** Streams holding a slot (tests, metrics). */
  get syncing(): number {
    return this.active;
  }

  /** Streams waiting for a slot (tests, metrics). */
  get queued(): number {
    return this.waiting.size;
  }

  /** Calls `start` once a slot is free (at once if one is, in arrival order otherwise). */
  acquire(start: () => void): SyncTurn {
    let state: "waiting" | "held" | "done" = "waiting";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const release = () => {
      if (state === "done") return;
      if (state === "waiting") this.waiting.delete(grant);
      else {
        clearTimeout(timer);
        this.active -= 1;
      }
      state = "done";
      this.next();
    };
    const grant = () => {
      state = "held";
      this.active += 1;
      timer = setTimeout(release, this.holdMs);
      timer.unref?.();
      start();
    };
    if (this.limit <= 0) {
      state = "done";
      start();
    } else if (this.active < this.limit && this.waiting.size === 0) grant();
    else this.waiting.add(grant);
    return { release };
  }

  private next(): void {
    for (const grant of this.waiting) {
      if (this.active >= this.limit) return;
      this.waiting.delete(grant);
      grant();
    }
  }
}
