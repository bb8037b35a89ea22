// Same-origin checks for state-changing / token-revealing requests.

import type { IncomingMessage } from "node:http";
import { HEADER } from "../../contracts/rules.js";
import type { AppConfig } from "../config/schema.js";
import { HttpError, header } from "./util.js";

/** Refuses a request whose Origin is foreign or whose Sec-Fetch-Site says cross-site. */
export function checkSameOrigin(req: IncomingMessage, app: AppConfig): void {
  const origin = header(req, "origin");
  if (origin !== undefined && !app.allowedOrigins.includes(origin)) {
    throw new HttpError(403, "forbidden", "cross-origin request refused");
  }
  const sfs = header(req, "sec-fetch-site");
  if (sfs !== undefined && sfs !== "same-origin" && sfs !== "none") {
    throw new HttpError(403, "forbidden", `cross-site request refused (sec-fetch-site: ${sfs.slice(0, 32)})`);
  }
}

/** The token endpoint also needs a custom header: a cross-site form or image can't send one. */
export function checkCsrfHeader(req: IncomingMessage): void {
  if (header(req, HEADER.csrf) !== "1") {
    throw new HttpError(403, "csrf_header_required", `send ${HEADER.csrf}: 1`);
  }
}
