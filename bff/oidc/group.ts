// App groups: micro-frontends that share one provider client and one redirect
// URI per origin, `<origin><prefix>/_group/<group>/callback`
// (docs/architecture.md#d14-app-groups-one-provider-client-for-many-apps). A
// login names its app in the sealed group login state; the callback refuses a
// state of another group or of an app outside the group, exchanges the code
// with that app's own client settings (its scopes and auth_params, so its
// access token has its own audience) and gives the app its own session. The
// browser's group sign-in (a cookie of the group, an index in Redis) lists the
// sessions the group's apps got, so a sign-out ends them all and another app of
// the group signs in silently (prompt=none) without asking the user.
import * as oidc from "openid-client";
import { groupBase } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { SessiongateError } from "../errors.js";
import type { GroupSignIn } from "../session/groups.js";
import type { Session } from "../session/store.js";
import type { OidcContext } from "./context.js";
import { type GroupLogin, openGroupLogins, sealGroupLogins } from "./group-state.js";
import { checkIssuer, exchangeCode, providerRefused, userClaims } from "./login.js";
import { validateReturnTo } from "./return-to.js";
import { tokenSetFrom } from "./tokens.js";

/** The provider's answers to prompt=none that mean "not without the user": a silent sign-in just did not happen. */
const SILENT_REFUSALS = new Set([
  "login_required",
  "interaction_required",
  "consent_required",
  "account_selection_required",
]);

/** The apps of `group`, by id; the first is the group's reference for its one provider client. */
export function groupMembers(apps: Iterable<AppConfig>, group: string): AppConfig[] {
  return [...apps].filter((a) => a.group === group).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * `appId` as a member of `group`: unknown_group when the group has no app,
 * group_mismatch when the app is not in it or its provider client is not the
 * group's (the registration API checks it outside its store's transaction, so
 * racing writes could disagree: the BFF refuses to sign such a member in).
 */
export function groupMember(members: AppConfig[], group: string, appId: string | null): AppConfig {
  if (members.length === 0) throw new SessiongateError("unknown_group", `no app in group ${group}`);
  const app = members.find((a) => a.id === appId);
  if (!app)
    throw new SessiongateError(
      "group_mismatch",
      `app ${String(appId).slice(0, 64)} is not in group ${group}`,
    );
  const ref = members[0];
  if (app.issuer !== ref.issuer || app.clientId !== ref.clientId || app.clientSecret !== ref.clientSecret)
    throw new SessiongateError(
      "group_mismatch",
      `app ${app.id} has another provider client than group ${group} (that of app ${ref.id})`,
    );
  return app;
}

/** The group's one redirect URI on the app's origin. */
export function groupRedirectUri(oc: Pick<OidcContext, "prefix">, app: AppConfig): string {
  return `${app.publicOrigin}${groupBase(oc.prefix, app.group as string)}/callback`;
}

export interface GroupLoginStart {
  authorizationUrl: string;
  /** The sealed login state with this login added, for the group login cookie. */
  loginState: string;
  maxAgeS: number;
}

export async function startGroupLogin(
  oc: Pick<OidcContext, "clients" | "ring" | "loginTimeoutS" | "prefix">,
  app: AppConfig,
  req: { returnTo: string | null; silent: boolean; loginState: string | undefined },
): Promise<GroupLoginStart> {
  const group = app.group as string;
  const target = validateReturnTo(req.returnTo, app.publicOrigin, app.allowedOrigins);
  if (!target)
    throw new SessiongateError(
      "invalid_return_to",
      "return_to must be a path or a URL on the app's own origin",
    );
  const config = await oc.clients.get(app);
  const login: GroupLogin = {
    app: app.id,
    state: oidc.randomState(),
    nonce: oidc.randomNonce(),
    pkceVerifier: oidc.randomPKCECodeVerifier(),
    returnTo: target,
    expiresAt: Date.now() + oc.loginTimeoutS * 1000,
    silent: req.silent,
  };
  const authUrl = oidc.buildAuthorizationUrl(config, {
    ...app.authParams,
    ...(req.silent ? { prompt: "none" } : {}),
    redirect_uri: groupRedirectUri(oc, app),
    scope: app.scopes.join(" "),
    response_type: "code",
    code_challenge: await oidc.calculatePKCECodeChallenge(login.pkceVerifier),
    code_challenge_method: "S256",
    state: login.state,
    nonce: login.nonce,
  });
  const pending = openGroupLogins(oc.ring, group, req.loginState) ?? [];
  return {
    authorizationUrl: authUrl.href,
    loginState: sealGroupLogins(oc.ring, group, [...pending, login]),
    maxAgeS: oc.loginTimeoutS,
  };
}

export interface GroupCallback {
  query: string;
  /** The group login cookie. */
  loginState: string | undefined;
  /** The group cookie: this browser's sign-in to the group, if any. */
  signInId: string | null;
}

export type GroupCallbackDone =
  | {
      kind: "signed_in";
      app: AppConfig;
      sessionId: string;
      returnTo: string;
      /** Set when a new group sign-in began: the group cookie's new value. */
      newSignInId?: string;
      /** The logins still in progress (null: none, clear the cookie). */
      loginState: string | null;
    }
  | { kind: "silent_refused"; app: AppConfig; returnTo: string; loginState: string | null };

type CallbackContext = Pick<
  OidcContext,
  "clients" | "store" | "groups" | "ring" | "loginTimeoutS" | "prefix" | "metrics" | "log"
>;

export async function completeGroupLogin(
  oc: CallbackContext,
  members: AppConfig[],
  group: string,
  cb: GroupCallback,
): Promise<GroupCallbackDone> {
  const params = new URLSearchParams(cb.query);
  const state = params.get("state");
  if (!state || params.getAll("state").length !== 1)
    throw new SessiongateError("invalid_request", "state missing");
  const pending = openGroupLogins(oc.ring, group, cb.loginState);
  if (!pending || pending.length === 0)
    throw new SessiongateError(
      "login_state_invalid",
      "no login in progress for this browser and group (foreign, expired or replayed callback)",
    );
  const login = pending.find((l) => l.state === state);
  if (!login) {
    oc.metrics.logins.inc({ app: `group:${group}`, result: "state_mismatch" });
    throw new SessiongateError("state_mismatch", "state mismatch (foreign callback)");
  }
  // The app the state was minted for must still be a member, with the group's client.
  const app = groupMember(members, group, login.app);
  const rest = pending.filter((l) => l !== login);
  const loginState = rest.length ? sealGroupLogins(oc.ring, group, rest) : null;
  const config = await oc.clients.get(app);
  checkIssuer(oc, app, config, params);
  if (!(await oc.store.once(`state:_group:${group}:${login.state}`, oc.loginTimeoutS * 1000))) {
    oc.metrics.logins.inc({ app: app.id, result: "replay" });
    throw new SessiongateError("callback_replayed", "callback already used");
  }
  const opError = params.get("error");
  if (opError) {
    if (login.silent && SILENT_REFUSALS.has(opError)) {
      await noMoreSilent(oc, group, cb.signInId, app.id, opError);
      oc.metrics.logins.inc({ app: app.id, result: "silent_refused" });
      return { kind: "silent_refused", app, returnTo: login.returnTo, loginState };
    }
    throw providerRefused(oc, app, opError);
  }
  const { tokens, claims } = await exchangeCode(oc, app, config, groupRedirectUri(oc, app), cb.query, login, {
    what: "group callback rejected",
    group,
  });
  const sid = typeof claims.sid === "string" ? claims.sid : undefined;
  const signIn = await joinOrBegin(oc, group, cb.signInId, claims.sub, sid, app.id);
  const sessionId = await oc.store.create(app.id, claims.sub, sid, {
    tokens: tokenSetFrom(tokens),
    user: userClaims(claims),
  });
  await oc.groups.addMember(signIn.rec.key, { app: app.id, idHash: oc.store.hash(sessionId) });
  oc.metrics.logins.inc({ app: app.id, result: "ok" });
  oc.log.info({ app: app.id, group, sub: claims.sub, silent: login.silent }, "group login completed");
  return {
    kind: "signed_in",
    app,
    sessionId,
    returnTo: login.returnTo,
    ...(signIn.newId ? { newSignInId: signIn.newId } : {}),
    loginState,
  };
}

/**
 * The browser's group sign-in for this login: the existing one when it is the
 * same user's (the app's earlier session in it is ended: a new id per login),
 * else a new one; a sign-in of another user in this browser is ended whole.
 */
async function joinOrBegin(
  oc: CallbackContext,
  group: string,
  signInId: string | null,
  sub: string,
  sid: string | undefined,
  appId: string,
): Promise<{ rec: GroupSignIn; newId?: string }> {
  const existing = await oc.groups.load(group, signInId);
  if (existing && existing.sub === sub) {
    for (const m of await oc.groups.members(existing.key)) {
      if (m.app !== appId) continue;
      const prev = await oc.store.peek(m.idHash);
      if (prev) await oc.store.remove(prev);
      await oc.groups.removeMember(existing.key, m);
    }
    // A provider session that came back (a new sid) may sign the others in silently again.
    if (existing.silentOff || existing.noSilent?.length || (sid && existing.sid !== sid))
      await oc.groups.update({ ...existing, sid: sid ?? existing.sid, silentOff: false, noSilent: [] });
    return { rec: existing };
  }
  if (existing) await endSignIn(oc, existing.key);
  const made = await oc.groups.create(group, sub, sid);
  return { rec: made.rec, newId: made.id };
}

async function noMoreSilent(
  oc: CallbackContext,
  group: string,
  signInId: string | null,
  appId: string,
  why: string,
): Promise<void> {
  const rec = await oc.groups.load(group, signInId);
  if (!rec) return;
  // login_required: the provider session is gone, so no app of the group can sign in silently.
  if (why === "login_required") await oc.groups.update({ ...rec, silentOff: true });
  else await oc.groups.update({ ...rec, noSilent: [...new Set([...(rec.noSilent ?? []), appId])] });
}

/**
 * Ends a group sign-in: every session it lists is deleted. Returns them (the
 * caller may revoke their refresh tokens).
 */
export async function endSignIn(oc: Pick<OidcContext, "store" | "groups">, key: string): Promise<Session[]> {
  const ended: Session[] = [];
  for (const m of await oc.groups.end(key)) {
    const s = await oc.store.peek(m.idHash);
    if (s) {
      await oc.store.remove(s);
      ended.push(s);
    }
  }
  return ended;
}

/**
 * Whether the browser client of `app` should try a silent sign-in: the browser
 * has a live sign-in to the group, the provider has not refused one, and the
 * app has no live session in it already (if it has and the browser did not
 * present it, another attempt would only loop).
 */
export async function silentSignInAdvised(
  oc: Pick<OidcContext, "store" | "groups">,
  app: AppConfig,
  signInId: string | null,
): Promise<boolean> {
  const rec = await oc.groups.load(app.group as string, signInId);
  if (!rec || rec.silentOff || rec.noSilent?.includes(app.id)) return false;
  for (const m of await oc.groups.members(rec.key))
    if (m.app === app.id && (await oc.store.peek(m.idHash))) return false;
  return true;
}
