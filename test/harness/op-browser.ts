// Drives the harness OP's login, consent and logout pages over plain HTTP with
// a cookie jar, for tests that need a logged-in user but not a browser.

/** A minimal cookie jar: name=value per origin, enough for the OP's own cookies. */
export class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  store(url: string, res: Response): void {
    const origin = new URL(url).origin;
    const jar = this.byOrigin.get(origin) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0\b/i.test(line) || value === "") jar.delete(name);
      else jar.set(name, value);
    }
    this.byOrigin.set(origin, jar);
  }

  header(url: string): string {
    const jar = this.byOrigin.get(new URL(url).origin);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join("; ") : "";
  }

  get(url: string, name: string): string | undefined {
    return this.byOrigin.get(new URL(url).origin)?.get(name);
  }
}

export interface Credentials {
  username: string;
  password: string;
}

export class OpBrowser {
  constructor(
    readonly issuer: string,
    readonly jar = new CookieJar(),
  ) {}

  private async send(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header(url);
    if (cookie) headers.set("cookie", cookie);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    this.jar.store(url, res);
    return res;
  }

  /**
   * Follows the OP's redirects from `url` until one leaves the OP, answering
   * the login form (and a logout confirmation) on the way. Returns that URL.
   */
  private async walk(url: string, creds?: Credentials): Promise<string> {
    let next = url;
    let init: RequestInit = {};
    for (let hop = 0; hop < 20; hop++) {
      if (new URL(next).origin !== new URL(this.issuer).origin) return next;
      const res = await this.send(next, init);
      init = {};
      const location = res.headers.get("location");
      if (location) {
        await res.arrayBuffer();
        next = new URL(location, next).toString();
        continue;
      }
      const html = await res.text();
      const loginAction = /action="(\/interaction\/[^"]+\/login)"/.exec(html)?.[1];
      if (loginAction) {
        if (!creds) throw new Error("the OP asks for a login but no credentials were given");
        if (/role="alert"/.test(html)) throw new Error("the OP refused the credentials");
        next = new URL(loginAction, this.issuer).toString();
        init = {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ username: creds.username, password: creds.password }).toString(),
        };
        continue;
      }
      const logoutForm =
        /<form[^>]*id="op\.logoutForm"[^>]*action="([^"]+)"/.exec(html)?.[1] ??
        /<form[^>]*action="([^"]+)"[^>]*id="op\.logoutForm"/.exec(html)?.[1];
      if (logoutForm) {
        const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
        next = new URL(logoutForm, this.issuer).toString();
        init = {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ xsrf, logout: "yes" }).toString(),
        };
        continue;
      }
      throw new Error(`the OP answered ${res.status} at ${next} without a redirect:\n${html.slice(0, 500)}`);
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** From an authorization URL to the client's redirect_uri (with code and state). */
  login(authorizationUrl: string, creds: Credentials): Promise<string> {
    return this.walk(authorizationUrl, creds);
  }

  /** From an end_session URL through the confirmation to the post-logout redirect. */
  logout(endSessionUrl: string): Promise<string> {
    return this.walk(endSessionUrl);
  }
}

/** One-shot login with a fresh cookie jar. */
export function completeLogin(authorizationUrl: string, creds: Credentials): Promise<string> {
  const issuer = new URL(authorizationUrl).origin;
  return new OpBrowser(issuer).login(authorizationUrl, creds);
}
