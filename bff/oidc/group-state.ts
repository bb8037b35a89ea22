// The login state of an app group's sign-ins (docs/architecture.md#d8-login-state-in-an-encrypted-cookie-not-redis,
// for a group): the group's one login cookie holds the logins this browser has
// in progress for any app of the group, each bound by its `state` to the app it
// was started for and where to return. Sealed with the group in the associated
// data, so a login cookie of another group does not open here. A few logins at
// once (several tabs); the oldest goes first, and the cookie stays well under
// the 4 KB browsers keep.
import { DecryptError, decrypt, encrypt, type KeyRing } from "../session/crypto.js";

export interface GroupLogin {
  /** The app of the group the login is for. */
  app: string;
  state: string;
  nonce: string;
  pkceVerifier: string;
  /** Where the browser goes after the login (validated against the app's origins). */
  returnTo: string;
  /** Epoch ms after which the callback is refused. */
  expiresAt: number;
  /** A silent sign-in (prompt=none): a refusal by the provider is no error. */
  silent: boolean;
}

interface Wire {
  a: string;
  s: string;
  n: string;
  v: string;
  r: string;
  e: number;
  p?: 1;
}

/** At most this many logins in progress per browser and group. */
export const MAX_GROUP_LOGINS = 4;
/** Sealed, base64url: the cookie value stays below browsers' 4096-byte limit with its name and attributes. */
const MAX_SEALED = 3600;

const aad = (group: string) => `group-login:${group}`;

export function sealGroupLogins(ring: KeyRing, group: string, logins: GroupLogin[]): string {
  let list = logins.slice(-MAX_GROUP_LOGINS);
  for (;;) {
    const wire: Wire[] = list.map((l) => ({
      a: l.app,
      s: l.state,
      n: l.nonce,
      v: l.pkceVerifier,
      r: l.returnTo,
      e: l.expiresAt,
      ...(l.silent ? { p: 1 as const } : {}),
    }));
    const sealed = encrypt(ring, JSON.stringify(wire), aad(group));
    // The newest login always stays (a return_to is at most 2 KB).
    if (sealed.length <= MAX_SEALED || list.length <= 1) return sealed;
    list = list.slice(1);
  }
}

/**
 * The logins in progress the cookie holds, expired ones left out. `null` when
 * there is no cookie or it does not open (another group's, tampered, a retired
 * key): the caller decides whether that is an error.
 */
export function openGroupLogins(
  ring: KeyRing,
  group: string,
  sealed: string | undefined,
): GroupLogin[] | null {
  if (!sealed) return null;
  let wire: unknown;
  try {
    wire = JSON.parse(decrypt(ring, sealed, aad(group)));
  } catch (err) {
    if (err instanceof DecryptError || err instanceof SyntaxError) return null;
    throw err;
  }
  if (!Array.isArray(wire)) return null;
  const now = Date.now();
  return (wire as Wire[])
    .filter(
      (w) => typeof w?.e === "number" && w.e >= now && typeof w.s === "string" && typeof w.a === "string",
    )
    .map((w) => ({
      app: w.a,
      state: w.s,
      nonce: w.n,
      pkceVerifier: w.v,
      returnTo: w.r,
      expiresAt: w.e,
      silent: w.p === 1,
    }));
}
