// What the browser may know about its session: who is signed in and until when,
// never a token or the session id (docs/architecture.md#invariant-1).
import type { AppConfig } from "../config/schema.js";
import type { OidcContext } from "./context.js";

export interface SessionInfo {
  sub: string;
  /** The user's ID-token claims (technical claims left out at login). */
  user: Record<string, unknown>;
  /** Epoch ms of the absolute timeout. */
  expiresAt: number;
}

/** null = no live session of this app under `sessionId`. */
export async function sessionInfo(
  oc: Pick<OidcContext, "store">,
  app: AppConfig,
  sessionId: string,
): Promise<SessionInfo | null> {
  const s = await oc.store.load(app.id, sessionId);
  return s ? { sub: s.sub, user: s.user, expiresAt: s.absExpiresAt } : null;
}
