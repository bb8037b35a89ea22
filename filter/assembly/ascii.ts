// ASCII character classes the parsers share (code points as from charCodeAt).

export function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** 0-9, A-Z, a-z. */
export function isAlnum(c: i32): bool {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
