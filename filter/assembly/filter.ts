// The session-to-token policy: the per-request decisions of
// docs/architecture.md#request-path, on top of the handler classes of ./abi.
// No raw pointers here; the BFF call's answer comes back to the stream that
// made it (abi/handlers.ts, dispatchHttpCall).
import { Action, RootHandler, StreamHandler } from "./abi/handlers";
import {
  continueRequest,
  Header,
  HeaderBlock,
  LogLevel,
  latin1Encode,
  log,
  MapType,
  nowMs,
  removeHeader,
  replaceHeader,
  replaceHeaderAt,
  replaceHeaderBytes,
  sendLocalResponse,
} from "./abi/host";
import {
  CacheKey,
  computeKey,
  hitLen,
  hitPtr,
  lookup,
  lookupCas,
  lookupFailing,
  release,
  savedKey,
  storeEntry,
  storeFailing,
  ttlMs,
} from "./cache";
import { AppConfig, Config, parseConfig } from "./config";
import { joinKept, scanCookies } from "./cookie";
import { isCrossSite } from "./csrf";
import { countFor, countForApp, inc, Metrics } from "./metrics";
import { matchAppAt, RouteApps } from "./route";
import { isValidSessionIdAt } from "./rules";
import { parseTokenAnswer, TokenAnswer } from "./token";

// Header names as bytes, encoded once: the request path compares and sets them per request.
const H_COOKIE = latin1Encode("cookie");
const H_AUTHORITY = latin1Encode(":authority");
const H_PATH = latin1Encode(":path");
const H_METHOD = latin1Encode(":method");
const H_SCHEME = latin1Encode(":scheme");
const H_AUTHORIZATION = latin1Encode("authorization");
const H_ORIGIN = latin1Encode("origin");
const H_FETCH_SITE = latin1Encode("sec-fetch-site");
const H_APP = latin1Encode("x-sessiongate-app");
const NO_BYTES = new ArrayBuffer(0);
const SAFE_METHODS = [latin1Encode("GET"), latin1Encode("HEAD"), latin1Encode("OPTIONS")];

function valueOr(v: string | null): string {
  return v === null ? "" : v;
}

/**
 * x-sessiongate-app as the xds-server's routes set it: the request's app, any
 * client value overwritten, and removed when no app matched (an upstream may
 * trust it, so a client never chooses it).
 */
function nameAppUpstream(app: AppConfig | null): void {
  if (app === null) removeHeader(MapType.RequestHeaders, H_APP);
  else replaceHeaderBytes(MapType.RequestHeaders, H_APP, app.idBytes);
}

export class FilterRoot extends RootHandler {
  config: Config | null = null;
  metrics: Metrics | null = null;
  routeApps: RouteApps = new RouteApps();

  onConfigure(raw: ArrayBuffer): bool {
    const r = parseConfig(String.UTF8.decode(raw));
    const cfg = r.config;
    if (cfg === null) {
      log(LogLevel.Error, "session-to-token: " + r.error);
      return false;
    }
    if (this.metrics === null) this.metrics = new Metrics();
    this.config = cfg;
    log(
      LogLevel.Info,
      "session-to-token: configured, " +
        // Under the xds-server the apps are on the routes, not in this list.
        (cfg.apps.length > 0
          ? cfg.apps.length.toString() + " app(s) in the plugin configuration"
          : "apps from route metadata") +
        ", cache " +
        (cfg.cacheEnabled ? cfg.cacheSlots.toString() + " slots" : "off"),
    );
    return true;
  }

  newStream(contextId: u32): StreamHandler {
    return new SessionStream(this, contextId);
  }
}

function jsonHeaders(): Header[] {
  return [new Header("content-type", "application/json"), new Header("cache-control", "no-store")];
}

export class SessionStream extends StreamHandler {
  app: AppConfig | null = null;
  key: CacheKey | null = null;
  cas: u32 = 0;

  constructor(
    public root: FilterRoot,
    contextId: u32,
  ) {
    super(contextId);
  }

  private get m(): Metrics {
    return this.root.metrics!;
  }

  onRequestHeaders(_endOfStream: bool): Action {
    const cfg = this.root.config;
    if (cfg === null) return Action.Continue;
    const hs = HeaderBlock.read(MapType.RequestHeaders);
    const action = this.decide(cfg, hs);
    hs.free();
    return action;
  }

  private decide(cfg: Config, hs: HeaderBlock): Action {
    // Envoy's header maps hold lower-case names (HTTP/1 keys are lowered, HTTP/2+ must be).
    // Most requests through a gateway carry no session cookie: find that out first,
    // before decoding anything else.
    countFor(this.m, null);
    const cookieHeaders = hs.countOf(H_COOKIE);
    // Static configs list their apps in the plugin configuration: there the filter,
    // not the route, names the app upstream, so it needs the app of every request.
    const staticApps = cfg.apps.length > 0;
    if (cookieHeaders == 0 && !staticApps) return this.pass();
    // The route names the app when the control plane configured it (and its route
    // sets x-sessiongate-app); static configs name it in the plugin configuration.
    const routed = this.root.routeApps.lookup();
    let app: AppConfig | null = null;
    if (routed === null) {
      const au = hs.next(H_AUTHORITY, 0);
      const pa = hs.next(H_PATH, 0);
      app = matchAppAt(
        cfg,
        au == 0 ? 0 : hs.valuePtr(au),
        au == 0 ? 0 : hs.valueLen(au),
        pa == 0 ? 0 : hs.valuePtr(pa),
        pa == 0 ? 0 : hs.valueLen(pa),
      );
      if (staticApps) nameAppUpstream(app);
    } else if (routed.app === null) return cookieHeaders == 0 ? this.pass() : this.badRoute();
    else app = routed.app;
    if (cookieHeaders == 0) return this.pass();
    if (app !== null) countForApp(this.m, app);
    // No sessiongate cookie goes upstream (docs/architecture.md#invariant-6), whatever
    // happens next and whatever the route: the app's own session cookie and, in the same pass, every
    // other cookie in the reserved namespace (other apps' sessions, login cookies),
    // also when no app matches.
    // On a BFF route only the app's own session and login cookies go on, untouched.
    let bffRoute = false;
    let name = NO_BYTES;
    let keep = NO_BYTES;
    if (app !== null) {
      bffRoute = app.bffRoute;
      name = app.cookieBytes;
      if (bffRoute) keep = app.loginCookieBytes;
    }
    const scan = scanCookies(hs, H_COOKIE, name, keep);
    if (scan.dropped) {
      if (scan.others == 0) removeHeader(MapType.RequestHeaders, H_COOKIE);
      else {
        // One Cookie header (Envoy joins them): replacing it is enough. With several,
        // remove them all first: a replace may only set the first one.
        const kept = joinKept(hs, H_COOKIE, name, keep);
        if (cookieHeaders > 1) removeHeader(MapType.RequestHeaders, H_COOKIE);
        replaceHeaderBytes(MapType.RequestHeaders, H_COOKIE, kept);
      }
    }
    if (app === null || bffRoute || !scan.found) return this.pass();
    // Machine-to-machine traffic brings its own credentials: leave them alone.
    if (hs.anyNonBlank(H_AUTHORIZATION)) return this.pass();
    // Safe methods skip the cross-site check: the other headers it needs are read only for unsafe ones.
    if (
      !hs.firstIsOneOf(H_METHOD, SAFE_METHODS) &&
      isCrossSite(
        app,
        valueOr(hs.first(H_METHOD)),
        hs.first(H_ORIGIN),
        hs.first(H_FETCH_SITE),
        valueOr(hs.first(H_SCHEME)),
        valueOr(hs.first(H_AUTHORITY)),
      )
    ) {
      inc(this.m.csrfDenied);
      sendLocalResponse(403, "session_to_token_csrf_denied", '{"error":"csrf_denied"}', jsonHeaders());
      return Action.Pause;
    }
    this.app = app;
    if (!isValidSessionIdAt(scan.valuePtr, scan.valueLen)) return this.noSession();
    if (cfg.cacheEnabled) {
      computeKey(app.idBytes, scan.valuePtr, scan.valueLen, cfg.cacheSlots);
      if (lookup(nowMs())) {
        inc(this.m.hits);
        // The header value straight from the host's copy of the entry: no copy of the token here.
        replaceHeaderAt(MapType.RequestHeaders, H_AUTHORIZATION, hitPtr(), hitLen());
        release();
        return Action.Continue;
      }
      if (lookupFailing) return this.failClosed();
      this.key = savedKey();
      this.cas = lookupCas;
    }
    inc(this.m.misses);
    const call = [
      new Header(":method", "GET"),
      new Header(":path", cfg.bffPath),
      new Header(":authority", cfg.bffAuthority),
      new Header("x-sessiongate-app", app.id),
      new Header("x-sessiongate-session", scan.value),
    ];
    if (cfg.bffInternalKey.length > 0)
      call.push(new Header("x-sessiongate-internal-key", cfg.bffInternalKey));
    if (!this.dispatchHttpCall(cfg.bffCluster, call, cfg.bffTimeoutMs))
      return this.bffError("dispatch failed");
    return Action.Pause;
  }

  /** The BFF's answer to the call made above, on this stream's context (status "" = no answer). */
  onHttpCallResponse(status: string, body: ArrayBuffer | null): void {
    const cfg = this.root.config;
    if (cfg === null) return;
    const app = this.app;
    countFor(this.m, app === null ? null : app.id);
    if (status == "401") {
      this.noSession();
      return;
    }
    if (status == "502") {
      const k = this.key;
      if (k !== null) storeFailing(k, nowMs(), this.cas);
    }
    if (status != "200" || body === null) {
      this.bffError(status.length == 0 ? "no answer (timeout or unreachable)" : "status " + status);
      return;
    }
    const a: TokenAnswer | null = parseTokenAnswer(body);
    if (a === null) {
      this.bffError("malformed token answer");
      return;
    }
    replaceHeader(MapType.RequestHeaders, "authorization", "Bearer " + a.accessToken);
    const key = this.key;
    if (key !== null && a.hasExpiry) {
      const ttl = ttlMs(a.expiresIn, cfg.cacheSkewS, cfg.cacheMaxTtlS);
      if (ttl > 0) storeEntry(key, a.accessToken, nowMs() + ttl, this.cas);
    }
    continueRequest();
  }

  private pass(): Action {
    inc(this.m.passthrough);
    return Action.Continue;
  }

  private noSession(): Action {
    inc(this.m.noSession);
    const h = jsonHeaders();
    h.push(
      new Header("set-cookie", this.app!.cookie + "=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict"),
    );
    sendLocalResponse(401, "session_to_token_no_session", '{"error":"no_session"}', h);
    return Action.Pause;
  }

  /**
   * The route's sessiongate metadata is malformed (logged when first seen):
   * the request carries cookies and we cannot tell which one is the session,
   * so fail closed rather than forward it.
   */
  private badRoute(): Action {
    inc(this.m.badRoute);
    sendLocalResponse(
      503,
      "session_to_token_bad_route_metadata",
      '{"error":"session_service_unavailable"}',
      jsonHeaders(),
    );
    return Action.Pause;
  }

  private bffError(why: string): Action {
    log(LogLevel.Warn, "session-to-token: session service error for app '" + this.app!.id + "': " + why);
    return this.failClosed();
  }

  /** 503 session_service_unavailable, counted as a BFF error (also for a 502 remembered in the cache). */
  private failClosed(): Action {
    inc(this.m.bffErrors);
    sendLocalResponse(
      503,
      "session_to_token_bff_error",
      '{"error":"session_service_unavailable"}',
      jsonHeaders(),
    );
    return Action.Pause;
  }
}
