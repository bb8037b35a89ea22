// Bearer-token authentication for every registration call. Tokens are
// compared as SHA-256 digests with timingSafeEqual (constant time, and no
// length leak).
import { createHash, timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";

const digest = (s: string) => createHash("sha256").update(s).digest();

export class TokenAuth {
  private readonly want: Buffer[];

  /** Accepts any of `tokens` (so a token can be rotated without downtime). */
  constructor(tokens: string[]) {
    const ok = tokens.filter((t) => t.length > 0);
    if (ok.length === 0) throw new Error("at least one API token is required");
    for (const t of ok) if (t.length < 16) throw new Error("API tokens must be at least 16 characters");
    this.want = ok.map(digest);
  }

  check(md: Metadata): boolean {
    const v = md.get("authorization");
    if (v.length !== 1 || typeof v[0] !== "string") return false;
    const m = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(v[0]);
    if (!m) return false;
    const got = digest(m[1]);
    let ok = false;
    for (const w of this.want) ok = timingSafeEqual(got, w) || ok;
    return ok;
  }
}
