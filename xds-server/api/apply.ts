// ApplyApps: a batch of AppSpecs is the desired state (like `kubectl apply`).
// Planning checks the whole batch before anything is written — every spec
// validated, JWKS URIs discovered (once per issuer), secrets sealed, route
// conflicts found — and a batch with any bad app is refused whole, naming
// every bad app. Then each app is created, updated (only when a field or its
// secret differs: an unchanged app keeps its revision) or, with prune,
// deleted, in chunks: each chunk is one atomic store write with one registry
// revision and one change notification. The batch as a whole is not one
// transaction (see docs/architecture.md, "Registration API").
import * as grpc from "@grpc/grpc-js";
import { applyRoutes, type BatchOp, checkBatch, LISTED_FAILURES, routeTable } from "../registry/batch.js";
import { BatchJwksDiscovery, type JwksDiscoveryOptions } from "../registry/jwks-discovery.js";
import type { SecretBox } from "../registry/secrets.js";
import type { Store } from "../registry/store.js";
import { type AppRecord, type AppSpec, RegistryError } from "../registry/types.js";
import type { RawAppSpec } from "../registry/validate.js";

export type Action = "created" | "updated" | "unchanged" | "pruned" | "refused";

/** Apps per store write: bounds one Redis script's run time (it blocks Redis) and one reload. */
export const APPLY_CHUNK = 1000;

export interface ApplyDeps {
  store: Store;
  secrets: SecretBox;
  jwksDiscovery?: JwksDiscoveryOptions;
  bffPrefix?: string;
  validate(raw: RawAppSpec | undefined, existing?: AppRecord): { spec: AppSpec; clientSecret: string };
  /** Seals a secret given on the wire, or re-seals the stored one (service.ts). */
  seal(id: string, given: string | undefined, validated: string): string;
  chunkSize?: number;
}

export interface ApplyRequest {
  apps: (RawAppSpec | undefined)[];
  prune: boolean;
  dryRun: boolean;
}

export interface ApplyResult {
  id: string;
  action: Action;
  changedFields: string[];
  /** The record after the change (before it, for a dry run or a prune). */
  record?: AppRecord;
  /** Why it was refused (action "refused"). */
  error?: string;
}

interface Step {
  id: string;
  action: Exclude<Action, "refused">;
  changedFields: string[];
  op?: BatchOp;
  existing?: AppRecord;
}

export class ApplyError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
    /** Every refused app, for the streaming API to return. */
    readonly refused: ApplyResult[] = [],
  ) {
    super(message);
  }
}

/** Top-level spec fields whose values differ. */
function changedFields(a: AppSpec, b: AppSpec): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  return keys.filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k]));
}

/** Deletes first, then updates, then creates: a route an app gives up is free for the apps after it. */
const ORDER = { pruned: 0, updated: 1, created: 2, unchanged: 3 } as const;

function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

interface Refusal {
  index: number;
  id: string;
  message: string;
  /** A conflict with the registry (FAILED_PRECONDITION), not a bad spec. */
  conflict?: boolean;
}

async function plan(d: ApplyDeps, req: ApplyRequest): Promise<Step[]> {
  const snap = d.store.snapshot();
  const current = new Map(snap.apps.map((a) => [a.spec.id, a]));
  const seen = new Map<string, number>();
  const refused: Refusal[] = [];
  const valid: { index: number; raw?: RawAppSpec; spec: AppSpec; secret: string; existing?: AppRecord }[] =
    [];
  for (const [index, raw] of req.apps.entries()) {
    const id = raw?.id ?? "";
    const first = seen.get(id);
    if (first !== undefined) {
      refused.push({ index, id, message: `id: duplicate in the batch (also apps[${first}])` });
      continue;
    }
    seen.set(id, index);
    const existing = current.get(id);
    try {
      const v = d.validate(raw, existing);
      valid.push({ index, raw, spec: v.spec, secret: v.clientSecret, existing });
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      refused.push({ index, id, message: e.message });
    }
  }
  // One discovery per issuer, all issuers at once.
  const jwks = new BatchJwksDiscovery(d.jwksDiscovery);
  const discovered = await Promise.all(
    valid.map((v) =>
      jwks.withJwksUri(v.spec).then(
        (spec) => spec,
        (e: Error) => {
          refused.push({ index: v.index, id: v.spec.id, message: e.message });
          return undefined;
        },
      ),
    ),
  );
  const steps: Step[] = [];
  for (const [i, v] of valid.entries()) {
    const spec = discovered[i];
    if (!spec) continue;
    const id = spec.id;
    const given = v.raw?.oidc?.clientSecret || undefined;
    let fields: string[] = [];
    if (v.existing) {
      fields = changedFields(v.existing.spec, spec);
      if (given) {
        let stored: string | undefined;
        try {
          stored = d.secrets.open(id, v.existing.clientSecret);
        } catch {
          stored = undefined; // unreadable: sending it again is a change
        }
        if (stored !== v.secret) fields.push("oidc.client_secret");
      }
      if (!fields.length) {
        steps.push({ id, action: "unchanged", changedFields: [], existing: v.existing });
        continue;
      }
    }
    let clientSecret: string;
    try {
      clientSecret = d.seal(id, given, v.secret);
    } catch (e) {
      refused.push({ index: v.index, id, message: (e as Error).message, conflict: true });
      continue;
    }
    steps.push(
      v.existing
        ? {
            id,
            action: "updated",
            changedFields: fields,
            existing: v.existing,
            op: { op: "update", spec, clientSecret, expectedRevision: v.existing.revision },
          }
        : { id, action: "created", changedFields: [], op: { op: "create", spec, clientSecret } },
    );
  }
  if (req.prune)
    for (const [id, existing] of current)
      if (!seen.has(id))
        steps.push({
          id,
          action: "pruned",
          changedFields: [],
          existing,
          op: { op: "delete", id, expectedRevision: existing.revision },
        });
  steps.sort((a, b) => ORDER[a.action] - ORDER[b.action]);
  // The route checks each chunk's write will run, run here over the whole
  // batch in write order, so a conflict refuses the batch before any write.
  const routes = routeTable(snap.apps, d.bffPrefix);
  const writes = steps.filter((s) => s.op).map((s) => s.op!);
  const conflicting = new Set<string>();
  for (const chunk of chunks(writes, d.chunkSize ?? APPLY_CHUNK)) {
    for (const f of checkBatch(current, routes, chunk, d.bffPrefix)) {
      if (conflicting.has(f.id)) continue; // one conflict per app (its prefix and its BFF routes collide together)
      conflicting.add(f.id);
      refused.push({ index: seen.get(f.id) ?? -1, id: f.id, message: f.message, conflict: true });
    }
    applyRoutes(current, routes, chunk, d.bffPrefix);
  }
  if (refused.length) throw refusal(refused, req.apps.length);
  return steps;
}

function refusal(refused: Refusal[], total: number): ApplyError {
  refused.sort((a, b) => a.index - b.index);
  const name = (r: Refusal) => (r.index >= 0 ? `apps[${r.index}] (${r.id || "?"})` : r.id);
  const listed = refused.slice(0, LISTED_FAILURES).map((r) => `${name(r)}: ${r.message}`);
  const more = refused.length > LISTED_FAILURES ? `; and ${refused.length - LISTED_FAILURES} more` : "";
  const message =
    refused.length === 1
      ? listed[0]
      : `${refused.length} of ${total} apps refused, nothing changed: ${listed.join("; ")}${more}`;
  const code = refused.every((r) => r.conflict)
    ? grpc.status.FAILED_PRECONDITION
    : grpc.status.INVALID_ARGUMENT;
  return new ApplyError(
    code,
    message,
    refused.map((r) => ({
      id: r.id,
      action: "refused",
      changedFields: [],
      error: `${name(r)}: ${r.message}`,
    })),
  );
}

/**
 * Plans and applies `req`. `onResults` gets the results as they are settled:
 * first the unchanged apps, then each written chunk's (with the registry
 * revision it was written at, without the record: it is filled in the
 * returned results once the last chunk is written); a dry run gets them all
 * at once. `total`: the number of results the whole apply has.
 */
export async function applyApps(
  d: ApplyDeps,
  req: ApplyRequest,
  onResults?: (results: ApplyResult[], revision: number, total: number) => void,
): Promise<ApplyResult[]> {
  const steps = await plan(d, req);
  const out: ApplyResult[] = [];
  const settled = (rs: ApplyResult[], revision: number) => {
    for (const r of rs) out.push(r);
    if (rs.length) onResults?.(rs, revision, steps.length);
  };
  const before = (s: Step): ApplyResult => ({
    id: s.id,
    action: s.action,
    changedFields: s.changedFields,
    record: s.existing,
  });
  if (req.dryRun) {
    settled(steps.map(before), d.store.snapshot().revision);
    return out;
  }
  settled(steps.filter((s) => !s.op).map(before), d.store.snapshot().revision);
  const writes = chunks(
    steps.filter((s) => s.op),
    d.chunkSize ?? APPLY_CHUNK,
  );
  let written = 0;
  try {
    await d.store.applyBatches(
      writes.map((c) => c.map((s) => s.op!)),
      (i, revision) => {
        written += writes[i].length;
        settled(
          writes[i].map((s) => ({
            id: s.id,
            action: s.action,
            changedFields: s.changedFields,
            record: s.action === "pruned" ? s.existing : undefined,
          })),
          revision,
        );
      },
    );
  } catch (e) {
    // Only a concurrent writer gets here (planning checked the rest).
    if (!(e instanceof RegistryError)) throw e;
    const total = writes.reduce((n, c) => n + c.length, 0);
    const msg =
      `${e.message} (changed by another writer since planning; ${written} of ${total} changes were` +
      " written before the chunk that met it, which changed nothing; re-run to apply the rest)";
    throw new RegistryError(e.kind, msg, e.field);
  }
  // The records as written (this replica's view follows once the last chunk is written).
  const now = new Map(d.store.snapshot().apps.map((a) => [a.spec.id, a]));
  for (const r of out) if (r.action === "created" || r.action === "updated") r.record = now.get(r.id);
  return out;
}
