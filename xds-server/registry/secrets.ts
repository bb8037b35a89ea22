// Client secrets at rest: AES-256-GCM under a key ring with key ids, so a
// registry dump (Redis RDB/AOF, a replica, a backup) never holds a usable
// secret. The API layer seals before any store sees the value; only the BFF
// directory stream opens it. The app id is bound in as associated data, so a
// sealed value copied onto another app does not decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { secretStatus } from "./validate.js";

const PREFIX = "sgenc1";
const KID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const aad = (appId: string) => Buffer.from(`sessiongate/client-secret/v1:${appId}`);

export class SecretKeyError extends Error {}

export interface SecretKeyRing {
  /** Key id new secrets are sealed with. */
  active: string;
  keys: Map<string, Buffer>;
}

/**
 * Parses "kid:base64,kid:base64" (commas or newlines). The active key is
 * `active` when given, else the last one listed (append the new key, then
 * drop the old one once every app was re-saved).
 */
export function parseSecretKeys(text: string, active?: string): SecretKeyRing {
  const keys = new Map<string, Buffer>();
  let last = "";
  for (const item of text.split(/[,\n]/).map((s) => s.trim())) {
    if (!item || item.startsWith("#")) continue;
    const i = item.indexOf(":");
    const kid = i > 0 ? item.slice(0, i) : "";
    if (!KID_RE.test(kid))
      throw new SecretKeyError(`secret keys: expected "kid:base64-32-bytes" with kid of [A-Za-z0-9_-]{1,32}`);
    const b64 = item.slice(i + 1);
    const key = Buffer.from(b64, "base64");
    if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(b64) || key.length !== 32)
      throw new SecretKeyError(`secret keys: key ${kid} must be exactly 32 bytes, base64-encoded`);
    if (keys.has(kid)) throw new SecretKeyError(`secret keys: duplicate key id ${kid}`);
    keys.set(kid, key);
    last = kid;
  }
  if (keys.size === 0) throw new SecretKeyError("secret keys: no key given");
  const act = active || last;
  if (!keys.has(act)) throw new SecretKeyError(`secret keys: active key ${act} is not in the list`);
  return { active: act, keys };
}

export const isSealed = (v: string) => v.startsWith(`${PREFIX}:`);

export class SecretBox {
  /**
   * Status by sealed value: a sealed value is unique per write (random IV),
   * so ListApps over many apps decrypts each secret once, not on every call.
   */
  private readonly statuses = new Map<string, string>();

  constructor(
    private readonly ring: SecretKeyRing,
    /** True when the key was generated at start-up (lost on restart). */
    readonly ephemeral = false,
  ) {}

  /** A random key held only in this process. */
  static ephemeral(): SecretBox {
    return new SecretBox({ active: "ephemeral", keys: new Map([["ephemeral", randomBytes(32)]]) }, true);
  }

  get activeKid(): string {
    return this.ring.active;
  }

  /** Sealed under the active key (nothing to migrate). */
  isCurrent(stored: string): boolean {
    return stored.startsWith(`${PREFIX}:${this.ring.active}:`);
  }

  seal(appId: string, plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.key(this.ring.active), iv);
    c.setAAD(aad(appId));
    const ct = Buffer.concat([c.update(plain, "utf8"), c.final(), c.getAuthTag()]);
    return `${PREFIX}:${this.ring.active}:${iv.toString("base64url")}:${ct.toString("base64url")}`;
  }

  /**
   * Opens a sealed value. A value without the envelope is a secret written
   * before encryption existed: returned as is (re-save the app to seal it).
   */
  open(appId: string, stored: string): string {
    if (!isSealed(stored)) return stored;
    const [, kid, ivB64, ctB64] = stored.split(":");
    const iv = Buffer.from(ivB64 ?? "", "base64url");
    const ct = Buffer.from(ctB64 ?? "", "base64url");
    if (iv.length !== 12 || ct.length < 16) throw new SecretKeyError("sealed secret is malformed");
    const d = createDecipheriv("aes-256-gcm", this.key(kid), iv);
    d.setAAD(aad(appId));
    d.setAuthTag(ct.subarray(ct.length - 16));
    try {
      return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]).toString("utf8");
    } catch {
      throw new SecretKeyError(`sealed secret does not authenticate under key ${kid}`);
    }
  }

  /** The admin API's client_secret_status; never throws. */
  status(appId: string, stored: string): string {
    if (!stored) return "";
    const key = `${appId}\n${stored}`;
    const hit = this.statuses.get(key);
    if (hit) return hit;
    let st: string;
    try {
      st = secretStatus(this.open(appId, stored));
    } catch (e) {
      return `set (unreadable: ${(e as Error).message})`;
    }
    if (this.statuses.size >= 100_000) this.statuses.clear();
    this.statuses.set(key, st);
    return st;
  }

  private key(kid: string | undefined): Buffer {
    const k = kid ? this.ring.keys.get(kid) : undefined;
    if (!k) throw new SecretKeyError(`secret key ${kid ?? "?"} is not configured (--secret-keys)`);
    return k;
  }
}
