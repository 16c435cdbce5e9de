/**
 * Command-line parsing shared by the gateway and the tools.
 *
 * Accepts GNU style (`--config x`, `--config=x`) and the Go style of the original gateway
 * (`-config x`, `-config=x`), so existing scripts and muscle memory keep working.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** The option table handed to `node:util` `parseArgs`. */
export type CliOptions = NonNullable<ParseArgsConfig["options"]>;

/** Thrown for an unknown flag or a flag missing its value; the message names the flag. */
export class UsageError extends Error {
  /** Creates a usage error; `cause` keeps the parser's original error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * Rewrites Go-style long flags (`-conn`) to GNU style (`--conn`). Single-letter flags (`-h`),
 * negative numbers, a lone `-` and everything after `--` pass through untouched. Grouped short
 * flags (`-hv`) are not supported: Go's flag package has none either.
 */
export function normalizeGoStyleFlags(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const goStyle = arg.length > 2 && arg[0] === "-" && arg[1] !== "-" && isNaN(Number(arg));
    out.push(goStyle ? "-" + arg : arg);
  }
  return out;
}

/**
 * Parses `args` against `options`, accepting both flag styles.
 *
 * @throws {UsageError} on an unknown flag, a missing value or a stray positional argument.
 */
export function parseCliArgs<T extends CliOptions>(
  args: readonly string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>["values"] {
  try {
    return parseArgs({
      args: normalizeGoStyleFlags(args),
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
}

/**
 * Like {@linkcode parseCliArgs}, but also returns positional arguments (e.g. a module path).
 *
 * @throws {UsageError} on an unknown flag or a missing value.
 */
export function parseCliArgsWithPositionals<T extends CliOptions>(
  args: readonly string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: true }>> {
  try {
    return parseArgs({
      args: normalizeGoStyleFlags(args),
      options,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
}

/**
 * Reads a flag that must be a whole number within `[min, max]`.
 *
 * @throws {UsageError} naming the flag when the value is not such a number.
 */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `Invalid value for --${name}: "${value}" is not a whole number from ${min} to ${max}`,
    );
  }
  return n;
}
