/** Fills `{{KEY}}` placeholders; an unfilled placeholder is an error, not a silent blank. */
export function renderTemplate(text: string, vars: Record<string, string | number>): string {
  const missing = new Set<string>();
  const out = text.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, key: string) => {
    if (!(key in vars)) {
      missing.add(key);
      return "";
    }
    return String(vars[key]);
  });
  if (missing.size) throw new Error(`template placeholders without a value: ${[...missing].join(", ")}`);
  return out;
}
