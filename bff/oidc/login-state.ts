// The login state (state, nonce, PKCE verifier, return_to) between the login and
// its callback. It travels sealed in a short-lived HttpOnly cookie, bound to the
// app by the associated data, so nothing is written to the session store before
// the callback succeeds (docs/architecture.md#d8-login-state-in-an-encrypted-cookie-not-redis).
import { SessiongateError } from "../errors.js";
import { DecryptError, decrypt, encrypt, type KeyRing } from "../session/crypto.js";

export interface LoginState {
  /** OAuth `state`: the callback must bring it back. */
  state: string;
  /** OIDC `nonce`: the ID token must carry it. */
  nonce: string;
  pkceVerifier: string;
  /** Where the browser goes after the login (already validated). */
  returnTo: string;
  /** Epoch ms after which the callback is refused. */
  expiresAt: number;
}

/**
 * The sealed JSON keeps the short names the cookie has always had: a login
 * started before an upgrade must still complete after it, and the names cost
 * bytes in every login cookie.
 */
interface WireLoginState {
  s: string;
  n: string;
  v: string;
  r: string;
  e: number;
}

const aad = (appId: string) => `login:${appId}`;

export function sealLoginState(ring: KeyRing, appId: string, st: LoginState): string {
  const wire: WireLoginState = {
    s: st.state,
    n: st.nonce,
    v: st.pkceVerifier,
    r: st.returnTo,
    e: st.expiresAt,
  };
  return encrypt(ring, JSON.stringify(wire), aad(appId));
}

/** Opens a login cookie of `appId`; login_state_invalid when missing, unreadable or expired. */
export function openLoginState(ring: KeyRing, appId: string, sealed: string | undefined): LoginState {
  if (!sealed)
    throw new SessiongateError(
      "login_state_invalid",
      "no login in progress for this browser (foreign or replayed callback)",
    );
  let wire: WireLoginState;
  try {
    wire = JSON.parse(decrypt(ring, sealed, aad(appId))) as WireLoginState;
  } catch (err) {
    if (err instanceof DecryptError || err instanceof SyntaxError)
      throw new SessiongateError("login_state_invalid", "login state unreadable");
    throw err;
  }
  if (typeof wire.e !== "number" || wire.e < Date.now())
    throw new SessiongateError("login_state_invalid", "login expired; start again");
  return { state: wire.s, nonce: wire.n, pkceVerifier: wire.v, returnTo: wire.r, expiresAt: wire.e };
}
