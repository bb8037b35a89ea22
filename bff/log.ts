// pino JSON logs. Redaction is a safety net: the code never logs tokens or session
// ids on purpose, and these paths catch the headers/fields that would carry them.
import { type Logger, pino } from "pino";

export function createLogger(level: string, name = "sessiongate-bff"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        "req.headers.cookie",
        "req.headers.authorization",
        'req.headers["x-sessiongate-session"]',
        'req.headers["x-sessiongate-internal-key"]',
        "*.access_token",
        "*.refresh_token",
        "*.id_token",
        "*.logout_token",
      ],
      censor: "[redacted]",
    },
  });
}

export type { Logger };
