// Structured logger: one JSON object a line, scoped with `.with()`, with redaction by field name.
// Never pass a message body or a password; fields named like secrets are masked anyway.

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A child logger that adds these fields to every line. */
  with(fields: LogFields): Logger;
}

/** Where lines go: stdout by default; tests pass a buffer. */
export type LogSink = (line: string, level: LogLevel) => void;

const LEVEL_ORDER: Record<LogLevel | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/**
 * Field names whose values never reach a log line (matched case-insensitively, as substrings, so
 * `smtpPassword` and `accessToken` are covered too). A boolean or a number under such a name stays
 * readable: `hasSecret: false` says whether a secret came, not which; no secret here is a number.
 */
const SENSITIVE_FIELD_NAMES = ["password", "secret", "authorization", "token", "cookie", "headers", "body", "pass"];

/** How deep nested objects are searched for sensitive names (deeper values are dropped, not printed). */
const MAX_REDACTION_DEPTH = 4;

const stdoutSink: LogSink = (line, level) => {
  (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${line}\n`);
};

/** A logger for one scope (a job, the server, the CLI). */
export function createLogger(
  scope: string,
  options: { level?: LogLevel | "silent"; sink?: LogSink; fields?: LogFields } = {},
): Logger {
  const minLevel = LEVEL_ORDER[options.level ?? "info"];
  const sink = options.sink ?? stdoutSink;
  const base = { scope, ...(options.fields ?? {}) };
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (LEVEL_ORDER[level] < minLevel) return;
    const line = { time: new Date().toISOString(), level, msg, ...redact(base), ...redact(fields ?? {}) };
    sink(JSON.stringify(line), level);
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    with: (fields) => createLogger(scope, { ...options, fields: { ...(options.fields ?? {}), ...fields } }),
  };
}

/** A logger that writes nothing (library defaults). */
export const silentLogger: Logger = createLogger("silent", { level: "silent" });

function redact(fields: LogFields, depth = 0): LogFields {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    const lower = key.toLowerCase();
    if (SENSITIVE_FIELD_NAMES.some((name) => lower.includes(name))) out[key] = isHarmless(value) ? value : "[redacted]";
    else out[key] = redactValue(value, depth);
  }
  return out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (value instanceof Error) return value.message;
  const isPlainObject = value !== null && typeof value === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(value));
  if (!Array.isArray(value) && !isPlainObject) return value; // strings, numbers, Dates, URLs: printed as JSON prints them
  if (depth >= MAX_REDACTION_DEPTH) return "[nested too deep]";
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  return redact(value as LogFields, depth + 1);
}

/** Values that cannot carry a secret: a yes/no, a count, nothing. */
function isHarmless(value: unknown): boolean {
  return typeof value === "boolean" || typeof value === "number" || value === null || value === undefined;
}
