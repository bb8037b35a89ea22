// The apps the BFF serves: file apps ∪ registry apps, kept in the one Map the
// route handlers read (ctx.apps), updated in place per id. On an id clash the
// file app wins: an operator's local file is not overridden by the network,
// and a registry write cannot take over a file app's client or cookie.
import type { AppConfig } from "../config/schema.js";
import type { Logger } from "../log.js";

export class AppSet {
  /** What the handlers read. */
  readonly live: Map<string, AppConfig>;
  private readonly file: Map<string, AppConfig>;
  private registry = new Map<string, AppConfig>();

  constructor(
    fileApps: AppConfig[],
    private readonly log: Logger,
    /** Called for each id whose served app changed (undefined: no longer served). */
    private readonly changed: (id: string, app: AppConfig | undefined) => void = () => {},
  ) {
    this.file = new Map(fileApps.map((a) => [a.id, a]));
    this.live = new Map(this.file);
  }

  /** Registry apps now (stale ones included while the stream is down). */
  registryIds(): string[] {
    return [...this.registry.keys()];
  }

  upsert(app: AppConfig): void {
    this.registry.set(app.id, app);
    this.refresh(app.id);
  }

  remove(id: string): void {
    if (this.registry.delete(id)) this.refresh(id);
  }

  /** A full snapshot from the stream: apps it does not list are dropped. */
  replace(apps: Map<string, AppConfig>): void {
    const ids = new Set([...this.registry.keys(), ...apps.keys()]);
    const before = this.registry;
    this.registry = apps;
    for (const id of ids) if (before.get(id) !== apps.get(id)) this.refresh(id);
  }

  private refresh(id: string): void {
    const reg = this.registry.get(id);
    const fileApp = this.file.get(id);
    if (fileApp) {
      if (reg) this.log.warn({ app: id }, "registry app ignored: an app with this id is in the config file");
      return;
    }
    if (reg) this.live.set(id, reg);
    else this.live.delete(id);
    this.changed(id, reg);
  }
}
