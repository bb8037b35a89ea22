// The BFF's 200 answer: {"access_token": "...", "token_type": "Bearer", "expires_in": n}.
// Anything unexpected is an error (the filter then fails closed with 503).
import { isAlnum } from "./ascii";
import { JKind, JsonParser } from "./json";

export const MAX_TOKEN = 16384;

export class TokenAnswer {
  accessToken: string = "";
  expiresIn: u64 = 0;
  hasExpiry: bool = false;
}

/** RFC 6750 b64token characters: safe as a header value, no spaces. */
function isB64Token(s: string): bool {
  if (s.length == 0 || s.length > MAX_TOKEN) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      isAlnum(c) || c == 0x2d || c == 0x2e || c == 0x5f || c == 0x7e || c == 0x2b || c == 0x2f || c == 0x3d;
    if (!ok) return false;
  }
  return true;
}

export function parseTokenAnswer(body: ArrayBuffer): TokenAnswer | null {
  if (body.byteLength == 0 || body.byteLength > 65536) return null;
  const v = new JsonParser(String.UTF8.decode(body)).parse();
  if (v === null || v.kind != JKind.Obj) return null;
  const at = v.get("access_token");
  if (at === null || at.kind != JKind.Str || !isB64Token(at.strValue)) return null;
  const tt = v.get("token_type");
  if (tt !== null && (tt.kind != JKind.Str || tt.strValue.toLowerCase() != "bearer")) return null;
  const r = new TokenAnswer();
  r.accessToken = at.strValue;
  const ex = v.get("expires_in");
  if (ex !== null) {
    if (ex.kind != JKind.Num || ex.numValue < 0 || ex.numValue > 1e9) return null;
    r.expiresIn = <u64>Math.floor(ex.numValue);
    r.hasExpiry = true;
  }
  return r;
}
