// Encryption at rest and session-key hashing.
// Blob format: "v1.<kid>.<iv b64url>.<ciphertext+tag b64url>" (AES-256-GCM, 12-byte IV).
// Encrypt with the active key; decrypt with whichever key the blob names, so a
// key rotation (add new key, make it active, drop the old one after the absolute
// timeout) logs nobody out.
import { Buffer } from "node:buffer";
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";

export interface KeyRing {
  active: string;
  keys: Map<string, Buffer>;
  hashKey: Buffer;
}

export class DecryptError extends Error {}

export function encrypt(ring: KeyRing, plaintext: string, aad: string): string {
  const key = ring.keys.get(ring.active);
  if (!key) throw new Error("active key missing");
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([c.update(plaintext, "utf8"), c.final(), c.getAuthTag()]);
  return `v1.${ring.active}.${iv.toString("base64url")}.${ct.toString("base64url")}`;
}

export function decrypt(ring: KeyRing, blob: string, aad: string): string {
  const parts = blob.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") throw new DecryptError("bad blob format");
  const key = ring.keys.get(parts[1]);
  if (!key) throw new DecryptError(`unknown key id ${parts[1]}`);
  const iv = Buffer.from(parts[2], "base64url");
  const data = Buffer.from(parts[3], "base64url");
  if (iv.length !== 12 || data.length < 16) throw new DecryptError("bad blob length");
  try {
    const d = createDecipheriv("aes-256-gcm", key, iv);
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString("utf8");
  } catch {
    throw new DecryptError("authentication failed");
  }
}

/** The Redis key part for a session id: HMAC-SHA256, so the id itself is never stored. */
export function hashSessionId(ring: KeyRing, sessionId: string): string {
  return createHmac("sha256", ring.hashKey).update(sessionId).digest("base64url");
}

/** 32 random bytes, base64url (43 chars): the cookie value. */
export function newSessionId(): string {
  return randomBytes(32).toString("base64url");
}

export const SESSION_ID_RE = /^[A-Za-z0-9_-]{43}$/;
