// A small strict JSON parser (RFC 8259) for the plugin configuration and the
// BFF's token answer. AssemblyScript has no exceptions, so failures are
// reported through `JsonParser.error` and a null result.
import { isDigit } from "./ascii";

export const enum JKind {
  Null,
  Bool,
  Num,
  Str,
  Arr,
  Obj,
}

export class JValue {
  kind: JKind = JKind.Null;
  boolValue: bool = false;
  numValue: f64 = 0;
  strValue: string = "";
  items: JValue[] = [];
  keys: string[] = [];

  get(key: string): JValue | null {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] == key) return this.items[i];
    return null;
  }
}

const MAX_DEPTH = 32;

export class JsonParser {
  pos: i32 = 0;
  error: string = "";
  constructor(private src: string) {}

  parse(): JValue | null {
    const v = this.value(0);
    if (v === null) return null;
    this.ws();
    if (this.pos != this.src.length) return this.fail("trailing characters");
    return v;
  }

  private fail(msg: string): JValue | null {
    if (this.error.length == 0) this.error = msg + " at offset " + this.pos.toString();
    return null;
  }

  private ws(): void {
    while (this.pos < this.src.length) {
      const c = this.src.charCodeAt(this.pos);
      if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) this.pos++;
      else break;
    }
  }

  private lit(word: string): bool {
    if (this.src.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }

  private value(depth: i32): JValue | null {
    if (depth > MAX_DEPTH) return this.fail("nesting too deep");
    this.ws();
    if (this.pos >= this.src.length) return this.fail("unexpected end");
    const c = this.src.charCodeAt(this.pos);
    const v = new JValue();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    if (c == 0x22) {
      const s = this.str();
      if (s === null) return null;
      v.kind = JKind.Str;
      v.strValue = s;
      return v;
    }
    if (this.lit("true")) {
      v.kind = JKind.Bool;
      v.boolValue = true;
      return v;
    }
    if (this.lit("false")) {
      v.kind = JKind.Bool;
      return v;
    }
    if (this.lit("null")) return v;
    return this.num();
  }

  /** Steps over an opening bracket; true (and steps over `close` too) when the container is empty. */
  private opensEmpty(close: i32): bool {
    this.pos++;
    this.ws();
    if (this.pos >= this.src.length || this.src.charCodeAt(this.pos) != close) return false;
    this.pos++;
    return true;
  }

  /** After an item: 1 when another follows (','), 0 at `close`, -1 on anything else (error set). */
  private nextItem(close: i32): i32 {
    this.ws();
    if (this.pos >= this.src.length) {
      this.fail("unexpected end");
      return -1;
    }
    const c = this.src.charCodeAt(this.pos++);
    if (c == close) return 0;
    if (c == 0x2c) return 1;
    this.fail("expected ',' or '" + String.fromCharCode(close) + "'");
    return -1;
  }

  private object(depth: i32): JValue | null {
    const v = new JValue();
    v.kind = JKind.Obj;
    if (this.opensEmpty(0x7d)) return v;
    while (true) {
      this.ws();
      if (this.pos >= this.src.length || this.src.charCodeAt(this.pos) != 0x22)
        return this.fail("expected a key");
      const k = this.str();
      if (k === null) return null;
      for (let i = 0; i < v.keys.length; i++)
        if (v.keys[i] == k) return this.fail("duplicate key '" + k + "'");
      this.ws();
      if (this.pos >= this.src.length || this.src.charCodeAt(this.pos) != 0x3a)
        return this.fail("expected ':'");
      this.pos++;
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.keys.push(k);
      v.items.push(item);
      const more = this.nextItem(0x7d);
      if (more < 0) return null;
      if (more == 0) return v;
    }
  }

  private array(depth: i32): JValue | null {
    const v = new JValue();
    v.kind = JKind.Arr;
    if (this.opensEmpty(0x5d)) return v;
    while (true) {
      const item = this.value(depth + 1);
      if (item === null) return null;
      v.items.push(item);
      const more = this.nextItem(0x5d);
      if (more < 0) return null;
      if (more == 0) return v;
    }
  }

  private hex4(): i32 {
    if (this.pos + 4 > this.src.length) return -1;
    let r = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.src.charCodeAt(this.pos + i);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
      if (d < 0) return -1;
      r = (r << 4) | d;
    }
    this.pos += 4;
    return r;
  }

  private str(): string | null {
    this.pos++; // opening quote
    const parts: string[] = [];
    let start = this.pos;
    while (true) {
      if (this.pos >= this.src.length) {
        this.fail("unterminated string");
        return null;
      }
      const c = this.src.charCodeAt(this.pos);
      if (c == 0x22) {
        parts.push(this.src.substring(start, this.pos));
        this.pos++;
        return parts.join("");
      }
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      parts.push(this.src.substring(start, this.pos));
      this.pos++;
      if (this.pos >= this.src.length) {
        this.fail("unterminated string");
        return null;
      }
      const e = this.src.charCodeAt(this.pos++);
      if (e == 0x22) parts.push('"');
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        const h = this.hex4();
        if (h < 0) {
          this.fail("bad \\u escape");
          return null;
        }
        parts.push(String.fromCharCode(h));
      } else {
        this.fail("bad escape");
        return null;
      }
      start = this.pos;
    }
  }

  private num(): JValue | null {
    const s = this.pos;
    const src = this.src;
    if (this.pos < src.length && src.charCodeAt(this.pos) == 0x2d) this.pos++;
    const intStart = this.pos;
    while (this.pos < src.length && isDigit(src.charCodeAt(this.pos))) this.pos++;
    const intLen = this.pos - intStart;
    if (intLen == 0) return this.fail("unexpected character");
    if (intLen > 1 && src.charCodeAt(intStart) == 0x30) return this.fail("leading zero");
    if (this.pos < src.length && src.charCodeAt(this.pos) == 0x2e) {
      this.pos++;
      const f = this.pos;
      while (this.pos < src.length && isDigit(src.charCodeAt(this.pos))) this.pos++;
      if (this.pos == f) return this.fail("bad number");
    }
    if (this.pos < src.length && (src.charCodeAt(this.pos) | 0x20) == 0x65) {
      this.pos++;
      if (this.pos < src.length && (src.charCodeAt(this.pos) == 0x2b || src.charCodeAt(this.pos) == 0x2d))
        this.pos++;
      const e = this.pos;
      while (this.pos < src.length && isDigit(src.charCodeAt(this.pos))) this.pos++;
      if (this.pos == e) return this.fail("bad number");
    }
    const v = new JValue();
    v.kind = JKind.Num;
    v.numValue = parseFloat(src.substring(s, this.pos));
    return v;
  }
}
