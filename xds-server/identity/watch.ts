// Files an external CA (cert-manager, Vault agent, a cron job) rewrites in
// place: reload them when they change, check the new set before using it, and
// keep the old set (with an error logged) when the new one is bad. The first
// load is strict: a process does not start on material it cannot use.
import { type FSWatcher, watch } from "node:fs";
import { dirname } from "node:path";

export interface WatchLog {
  info(o: object, m: string): void;
  error(o: object, m: string): void;
}

export interface WatchOptions<T> {
  /** Reads and validates the files; throws on a bad set. */
  load: () => T | Promise<T>;
  /** Equal keys are the same material (no change event). */
  key: (v: T) => string;
  what: string;
  log: WatchLog;
  /** Quiet time after the last file event before reloading (writers touch several files). */
  debounceMs?: number;
  /** Also re-read this often: file events are not delivered on every filesystem. 0: never. */
  pollMs?: number;
}

export class WatchedFiles<T> {
  private value: T;
  private readonly listeners = new Set<(v: T) => void>();
  private readonly watchers: FSWatcher[] = [];
  private timer?: NodeJS.Timeout;
  private poll?: NodeJS.Timeout;
  private loading?: Promise<void>;
  private again = false;
  private closed = false;
  /** Reload attempts that failed validation (kept the old material). */
  failures = 0;

  private constructor(
    private readonly paths: string[],
    private readonly opts: WatchOptions<T>,
    first: T,
  ) {
    this.value = first;
  }

  static async start<T>(paths: string[], opts: WatchOptions<T>): Promise<WatchedFiles<T>> {
    const w = new WatchedFiles(paths, opts, await opts.load());
    // Watch the directories, not the files: writers replace files by rename
    // and Kubernetes swaps a "..data" symlink, which a file watch misses.
    for (const dir of new Set(paths.map((p) => dirname(p)))) {
      const fw = watch(dir, { persistent: false }, () => w.schedule());
      fw.on("error", (e) => opts.log.error({ what: opts.what, dir, err: e.message }, "file watch failed"));
      w.watchers.push(fw);
    }
    if (opts.pollMs) {
      w.poll = setInterval(() => w.schedule(), opts.pollMs);
      w.poll.unref();
    }
    return w;
  }

  get current(): T {
    return this.value;
  }

  onChange(cb: (v: T) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Re-reads now (tests, SIGHUP); resolves once the attempt is over. */
  async reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = this.attempt().finally(() => {
      this.loading = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.reload();
      }
    });
    return this.loading;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.poll);
    for (const w of this.watchers) w.close();
    this.listeners.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), this.opts.debounceMs ?? 250);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    let next: T;
    try {
      next = await this.opts.load();
    } catch (e) {
      this.failures++;
      this.opts.log.error(
        { what: this.opts.what, files: this.paths, err: (e as Error).message },
        "reloaded files refused; keeping the previous material",
      );
      return;
    }
    if (this.closed || this.opts.key(next) === this.opts.key(this.value)) return;
    this.value = next;
    this.opts.log.info({ what: this.opts.what, files: this.paths }, "reloaded from files");
    for (const cb of this.listeners) cb(next);
  }
}
