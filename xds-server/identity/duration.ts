// Certificate lifetimes on the command line: 90s, 15m, 24h, 30d or plain seconds.

export function parseDuration(v: string): number | undefined {
  const m = /^(\d{1,9})([smhd]?)$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as "" | "s" | "m" | "h" | "d"];
}
