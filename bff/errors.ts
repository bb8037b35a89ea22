// The BFF's one error type. `code` says what went wrong in the BFF's own words
// and stays stable; bff/http/errors.ts turns each code into an HTTP status and
// the answer's `error` field with one table, so no layer below http/ knows HTTP.

export type ErrorCode =
  // The request itself (bff/http)
  | "invalid_request"
  | "not_found"
  | "unknown_app"
  | "unknown_app_header"
  | "method_not_allowed"
  | "body_too_large"
  | "forbidden"
  | "csrf_header_required"
  | "not_enabled"
  // Login and its callback (bff/oidc/login.ts)
  | "invalid_return_to"
  | "login_state_invalid"
  | "state_mismatch"
  | "iss_mismatch"
  | "provider_error"
  | "callback_replayed"
  | "invalid_grant"
  // App groups (bff/oidc/group.ts)
  | "unknown_group"
  | "group_mismatch"
  // Back-channel logout (bff/oidc/logout.ts)
  | "logout_token_invalid"
  | "logout_token_replayed"
  // What the BFF depends on
  | "session_store_unavailable"
  | "idp_unavailable"
  | "refresh_timeout"
  | "internal_error";

export class SessiongateError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** Goes to the answer's error_description: never a token or a session id. */
    readonly detail?: string,
    /** provider_error only: the provider's own `error` code, relayed as the answer's `error`. */
    readonly providerError?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = "SessiongateError";
  }
}
