// ApplyApps: a batch of AppSpecs is the desired state (like `kubectl apply`).
// Every spec is validated before anything is written (one bad spec refuses
// the whole batch, naming it); then each app is created, updated (only when a
// field or its secret differs: an unchanged app keeps its revision) or, with
// prune, deleted. Each write is one store transaction (atomic per app); the
// batch as a whole is not one transaction (see README, "Bulk registration").
import * as grpc from "@grpc/grpc-js";
import { type JwksDiscoveryOptions, withJwksUri } from "../registry/jwks-discovery.js";
import type { SecretBox } from "../registry/secrets.js";
import type { Store } from "../registry/store.js";
import { type AppRecord, type AppSpec, RegistryError } from "../registry/types.js";
import type { RawAppSpec } from "../registry/validate.js";

export type Action = "created" | "updated" | "unchanged" | "pruned";

export interface ApplyDeps {
  store: Store;
  secrets: SecretBox;
  jwksDiscovery?: JwksDiscoveryOptions;
  validate(raw: RawAppSpec | undefined, existing?: AppRecord): { spec: AppSpec; clientSecret: string };
  /** Seals a secret given on the wire, or re-seals the stored one (service.ts). */
  seal(id: string, given: string | undefined, validated: string): string;
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
}

interface Step {
  id: string;
  action: Action;
  changedFields: string[];
  spec?: AppSpec;
  secret?: string;
  given?: string;
  existing?: AppRecord;
}

export class ApplyError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
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

async function plan(d: ApplyDeps, req: ApplyRequest): Promise<Step[]> {
  const current = new Map(d.store.snapshot().apps.map((a) => [a.spec.id, a]));
  const seen = new Set<string>();
  const steps: Step[] = [];
  for (const [i, raw] of req.apps.entries()) {
    const id = raw?.id ?? "";
    if (seen.has(id))
      throw new ApplyError(grpc.status.INVALID_ARGUMENT, `apps[${i}] (${id}): id: duplicate in the batch`);
    seen.add(id);
    const existing = current.get(id);
    let v: { spec: AppSpec; clientSecret: string };
    try {
      v = d.validate(raw, existing);
    } catch (e) {
      if (e instanceof RegistryError)
        throw new ApplyError(grpc.status.INVALID_ARGUMENT, `apps[${i}] (${id || "?"}): ${e.message}`);
      throw e;
    }
    const spec = await withJwksUri(v.spec, d.jwksDiscovery);
    const given = raw?.oidc?.clientSecret || undefined;
    if (!existing) {
      steps.push({ id, action: "created", changedFields: [], spec, secret: v.clientSecret, given });
      continue;
    }
    const fields = changedFields(existing.spec, spec);
    if (given) {
      let stored: string | undefined;
      try {
        stored = d.secrets.open(id, existing.clientSecret);
      } catch {
        stored = undefined; // unreadable: sending it again is a change
      }
      if (stored !== v.clientSecret) fields.push("oidc.client_secret");
    }
    steps.push({
      id,
      action: fields.length ? "updated" : "unchanged",
      changedFields: fields,
      spec,
      secret: v.clientSecret,
      given,
      existing,
    });
  }
  if (req.prune)
    for (const [id, existing] of current)
      if (!seen.has(id)) steps.push({ id, action: "pruned", changedFields: [], existing });
  return steps;
}

export async function applyApps(d: ApplyDeps, req: ApplyRequest): Promise<ApplyResult[]> {
  const steps = await plan(d, req);
  if (req.dryRun)
    return steps.map((s) => ({
      id: s.id,
      action: s.action,
      changedFields: s.changedFields,
      record: s.existing,
    }));
  const out: ApplyResult[] = [];
  for (const s of steps) {
    let record: AppRecord | undefined = s.existing;
    try {
      if (s.action === "created") record = await d.store.create(s.spec!, d.seal(s.id, s.given, s.secret!));
      else if (s.action === "updated")
        record = await d.store.update(s.spec!, d.seal(s.id, s.given, s.secret!), s.existing!.revision);
      else if (s.action === "pruned") await d.store.delete(s.id, s.existing!.revision);
    } catch (e) {
      // Name the app and what was already applied: the batch is not one transaction.
      const done = out.filter((r) => r.action !== "unchanged").map((r) => `${r.action} ${r.id}`);
      const msg = `${s.id}: ${(e as Error).message} (applied before it: ${done.join(", ") || "nothing"})`;
      if (e instanceof RegistryError) throw new RegistryError(e.kind, msg, e.field);
      throw e;
    }
    out.push({ id: s.id, action: s.action, changedFields: s.changedFields, record });
  }
  return out;
}
