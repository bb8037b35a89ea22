// Progress on stderr: which group, which step/repetition, and an ETA from the
// groups' own estimates scaled by how fast the run has gone so far.

export interface ProgressPlan {
  name: string;
  estimateS: number;
}

export class Progress {
  private readonly started = Date.now();
  private groupIndex = -1;
  private groupStarted = Date.now();
  private fraction = 0;
  private lastLen = 0;
  private readonly tty: boolean;

  constructor(
    private readonly plan: ProgressPlan[],
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  startGroup(name: string): void {
    this.groupIndex = this.plan.findIndex((p) => p.name === name);
    this.groupStarted = Date.now();
    this.fraction = 0;
    this.update("starting", 0);
  }

  /** Seconds left: rest of this group plus the later groups' estimates. */
  etaS(): number {
    const g = this.plan[this.groupIndex];
    if (!g) return 0;
    const spent = (Date.now() - this.groupStarted) / 1000;
    // Trust the measured pace once a group is a fifth done; before that, the estimate.
    const thisLeft =
      this.fraction > 0.2 ? (spent / this.fraction) * (1 - this.fraction) : Math.max(0, g.estimateS - spent);
    const later = this.plan.slice(this.groupIndex + 1).reduce((s, p) => s + p.estimateS, 0);
    return thisLeft + later;
  }

  /** `step` says what runs now ("(c) wasm cache on, rep 2/3"); fraction of the group done in [0,1]. */
  update(step: string, fraction: number): void {
    this.fraction = Math.max(0, Math.min(1, fraction));
    const g = this.plan[this.groupIndex];
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    const line = `bench [${this.groupIndex + 1}/${this.plan.length}] ${g?.name ?? "?"}: ${step} — ${Math.round(
      this.fraction * 100,
    )}% of group, ${elapsed}s elapsed, ETA ${fmtS(this.etaS())}`;
    if (this.tty) {
      const pad = this.lastLen > line.length ? " ".repeat(this.lastLen - line.length) : "";
      this.out.write(`\r${line}${pad}`);
      this.lastLen = line.length;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** A log line that does not get overwritten by the progress line. */
  log(msg: string): void {
    if (this.tty && this.lastLen) this.out.write(`\r${" ".repeat(this.lastLen)}\r`);
    this.out.write(`${msg}\n`);
    this.lastLen = 0;
  }

  done(): void {
    if (this.tty && this.lastLen) this.out.write("\n");
    this.lastLen = 0;
  }
}

export function fmtS(s: number): string {
  const t = Math.max(0, Math.round(s));
  return t >= 60 ? `${Math.floor(t / 60)}m${String(t % 60).padStart(2, "0")}s` : `${t}s`;
}
