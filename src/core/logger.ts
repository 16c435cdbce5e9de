/**
 * Structured, levelled logging: one JSON object per line on stderr, so operators can ship the
 * gateway's logs to whatever they already use without a parser of our own.
 *
 * @module
 */

/** Severity of a log line, in increasing order. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Extra structured fields on a log line (session id, reason, error...). */
export type LogFields = Record<string, unknown>;

/** Where log lines go; tests pass one that records them. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // A closed stderr must never take the gateway down.
  }
};

/** A levelled logger that writes one JSON line per event. */
export class Logger {
  readonly #level: LogLevel;
  readonly #minRank: number;
  readonly #sink: LogSink;
  readonly #base: LogFields;

  /** Creates a logger that drops lines below `level`. */
  constructor(level: LogLevel = "info", sink: LogSink = stderrSink, base: LogFields = {}) {
    this.#level = level;
    this.#minRank = LEVEL_RANK[level];
    this.#sink = sink;
    this.#base = base;
  }

  /** Returns a logger that adds `fields` to every line (e.g. `{ component: "websocket" }`). */
  child(fields: LogFields): Logger {
    return new Logger(this.#level, this.#sink, { ...this.#base, ...fields });
  }

  /** Whether a line at `level` would be written; guards costly field building. */
  isEnabled(level: LogLevel): boolean {
    return LEVEL_RANK[level] >= this.#minRank;
  }

  /** Logs at debug level. */
  debug(msg: string, fields?: LogFields): void {
    this.#write("debug", msg, fields);
  }
  /** Logs at info level. */
  info(msg: string, fields?: LogFields): void {
    this.#write("info", msg, fields);
  }
  /** Logs at warn level. */
  warn(msg: string, fields?: LogFields): void {
    this.#write("warn", msg, fields);
  }
  /** Logs at error level. */
  error(msg: string, fields?: LogFields): void {
    this.#write("error", msg, fields);
  }

  #write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.isEnabled(level)) return;
    const line: LogFields = { ts: new Date().toISOString(), level, msg, ...this.#base };
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        line[key] = value instanceof Error ? `${value.name}: ${value.message}` : value;
      }
    }
    this.#sink(JSON.stringify(line));
  }
}
