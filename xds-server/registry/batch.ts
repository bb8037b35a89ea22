// A batch of registry writes (creates, updates, deletes) that a store applies
// as one atomic write with one revision, and the checks every store runs on
// it before writing anything: existence, expected revisions, route ownership.
// The Redis script (redis-batch.ts) runs the same checks in the same order.
import {
  type AppRecord,
  type AppSpec,
  RegistryError,
  type RegistryErrorKind,
  routeConflict,
  routeKeys,
} from "./types.js";

export type BatchOp =
  | { op: "create"; spec: AppSpec; clientSecret: string }
  | { op: "update"; spec: AppSpec; clientSecret: string; expectedRevision: number }
  /** expectedRevision 0: delete whatever revision it is at. */
  | { op: "delete"; id: string; expectedRevision: number };

export interface BatchFailure {
  id: string;
  kind: RegistryErrorKind;
  message: string;
  field?: string;
}

export const opId = (o: BatchOp) => (o.op === "delete" ? o.id : o.spec.id);

/** Route key -> owning app id, of `apps`. */
export function routeTable(apps: Iterable<AppRecord>, bffPrefix = ""): Map<string, string> {
  const t = new Map<string, string>();
  for (const a of apps) for (const k of routeKeys(a.spec, bffPrefix)) t.set(k, a.spec.id);
  return t;
}

export function alreadyExists(id: string): BatchFailure {
  return { id, kind: "ALREADY_EXISTS", message: `app ${id} already exists`, field: "id" };
}
export function notFound(id: string): BatchFailure {
  return { id, kind: "NOT_FOUND", message: `app ${id} not found`, field: "id" };
}
export function staleRevision(id: string, cur: number, expected: number): BatchFailure {
  return {
    id,
    kind: "FAILED_PRECONDITION",
    message: `revision: app ${id} is at revision ${cur}, not ${expected}`,
    field: "revision",
  };
}
export function routeFailure(id: string, key: string, owner: string): BatchFailure {
  const e = routeConflict(key, owner);
  return { id, kind: e.kind, message: e.message, field: e.field };
}

/**
 * Every failure of `ops` against the registry `byId` / `routes` (not
 * changed). Routes the batch releases (updated or deleted apps' old ones) are
 * free for the rest of the batch, so two apps may swap hosts in one batch.
 */
export function checkBatch(
  byId: ReadonlyMap<string, AppRecord>,
  routes: ReadonlyMap<string, string>,
  ops: readonly BatchOp[],
  bffPrefix = "",
): BatchFailure[] {
  const out: BatchFailure[] = [];
  const released = new Set<string>();
  for (const o of ops) {
    const id = opId(o);
    const cur = byId.get(id);
    if (o.op === "create") {
      if (cur) out.push(alreadyExists(id));
      continue;
    }
    if (!cur) {
      out.push(notFound(id));
      continue;
    }
    if ((o.op === "update" || o.expectedRevision !== 0) && cur.revision !== o.expectedRevision)
      out.push(staleRevision(id, cur.revision, o.expectedRevision));
    for (const k of routeKeys(cur.spec, bffPrefix)) if (routes.get(k) === id) released.add(k);
  }
  const claimed = new Map<string, string>();
  for (const o of ops) {
    if (o.op === "delete") continue;
    for (const k of routeKeys(o.spec, bffPrefix)) {
      const owner = claimed.get(k) ?? (released.has(k) ? undefined : routes.get(k));
      if (owner && owner !== o.spec.id) out.push(routeFailure(o.spec.id, k, owner));
      else claimed.set(k, o.spec.id);
    }
  }
  return out;
}

/** Applies `ops` (already checked) to the route table. */
export function applyRoutes(
  byId: ReadonlyMap<string, AppRecord>,
  routes: Map<string, string>,
  ops: readonly BatchOp[],
  bffPrefix = "",
): void {
  for (const o of ops) {
    const cur = byId.get(opId(o));
    if (cur && o.op !== "create")
      for (const k of routeKeys(cur.spec, bffPrefix)) if (routes.get(k) === cur.spec.id) routes.delete(k);
  }
  for (const o of ops)
    if (o.op !== "delete") for (const k of routeKeys(o.spec, bffPrefix)) routes.set(k, o.spec.id);
}

/** How many failures an error message lists before "and N more". */
export const LISTED_FAILURES = 20;

/** A refused batch: the first failure's kind, and every failure. */
export class BatchError extends RegistryError {
  constructor(
    readonly failures: BatchFailure[],
    message: string,
  ) {
    super(failures[0].kind, message, failures[0].field);
  }
}

/**
 * The error of a refused batch: a one-op batch (CreateApp, UpdateApp,
 * DeleteApp) gets its first failure as is; a larger one names every failure
 * (up to a bound in the message; all of them in `failures`).
 */
export function batchError(failures: BatchFailure[], single: boolean): RegistryError {
  if (single) {
    const f = failures[0];
    return new RegistryError(f.kind, f.message, f.field);
  }
  const listed = failures.slice(0, LISTED_FAILURES).map((f) => `${f.id}: ${f.message}`);
  const more = failures.length > LISTED_FAILURES ? `; and ${failures.length - LISTED_FAILURES} more` : "";
  return new BatchError(
    failures,
    `${failures.length} conflict(s), nothing in this write changed: ${listed.join("; ")}${more}`,
  );
}
