// Reads a YAML or JSON config file (YAML is a superset of JSON, one parser does both).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { type BffConfig, ConfigError, validateConfig } from "./schema.js";

export function loadConfigFile(file: string): BffConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError("--config", `cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: false });
  } catch (err) {
    throw new ConfigError("(syntax)", (err as Error).message.split("\n")[0]);
  }
  return validateConfig(doc);
}
