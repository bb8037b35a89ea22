// Generated open-redirect attempts for the BFF's `return_to`: protocol-relative
// and backslash forms, schemes, userinfo, encoded forms, tabs/newlines,
// Unicode look-alikes, other ports, schemes and hosts of the same machine.
import fc from "fast-check";

export function returnToVariants(publicOrigin: string): fc.Arbitrary<string> {
  const own = new URL(publicOrigin);
  const hosts = fc.constantFrom(
    "evil.example",
    "evil.example:443",
    `${own.hostname}.evil.example`,
    `${own.host}@evil.example`,
    `evil.example\\@${own.host}`,
    `evil.example#@${own.host}`,
    `evil.example?@${own.host}`,
    "ｅｖｉｌ.example",
    "evil。example",
    "evil．example",
    "еvil.example", // Cyrillic e
    "xn--vil-8cd.example",
    "0x7f.0.0.1",
    "2130706433",
    "[::1]",
    `localhost:${own.port}`,
    `${own.hostname}:${Number(own.port) + 1}`,
  );
  const lead = fc.constantFrom(
    "//",
    "/\\",
    "\\\\",
    "\\/",
    "///",
    "/%2f",
    "%2f%2f",
    "/%5c",
    "https:",
    "https:/",
    "https://",
    "http://",
    "HTTPS://",
    "ftp://",
    "ws://",
    " //",
    "\t//",
    "/\t/",
    "/\n/",
    "/\r\n/",
    "\u3002\u3002",
    "／／",
  );
  const scripts = fc.constantFrom(
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "javascript://%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    `${own.protocol === "http:" ? "https:" : "http:"}//${own.host}/`,
    `${own.protocol}//user:pass@${own.host}/`,
    `${own.protocol}//user@${own.host}/`,
  );
  const encode = fc.constantFrom(
    (s: string) => s,
    (s: string) => encodeURIComponent(s),
    (s: string) => encodeURIComponent(encodeURIComponent(s)),
    (s: string) => s.replace(/\//g, "%2F"),
    (s: string) => s.replace(/\./g, "%2E"),
  );
  const insert = fc
    .tuple(fc.nat(), fc.constantFrom("", "", "\t", "\n", "\r", " ", "\u0000", "\u00a0", "\u200b"))
    .map(
      ([at, c]) =>
        (s: string) =>
          s.slice(0, at % (s.length + 1)) + c + s.slice(at % (s.length + 1)),
    );
  const attack = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.tuple(lead, hosts, fc.constantFrom("", "/", "/x?y=1")).map(([l, h, p]) => `${l}${h}${p}`),
    },
    { weight: 1, arbitrary: scripts },
  );
  return fc.tuple(attack, encode, insert).map(([a, e, i]) => i(e(a)));
}
