/**
 * Who may use the admin API: bearer tokens read from the environment at start, each with a
 * name that the log shows (never the token). A token is compared in constant time against
 * every configured one, so neither its length nor how much of it matched shows in the timing.
 *
 * Without any token the admin listener may bind only a loopback address; then every request
 * is allowed and logged as `loopback`.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ConfigError, type GatewayConfig } from "../config/config.ts";

/** The name the single token of `admin.token_env` acts under in the log. */
export const DEFAULT_TOKEN_NAME = "admin";

/** Who acts when no token is configured and the listener is on loopback. */
export const LOOPBACK_ACTOR = "loopback";

/** Shortest token accepted: 16 characters, so a token cannot be guessed by trying. */
export const MIN_TOKEN_LENGTH = 16;

/** A token name: 1–64 letters, digits, `_`, `.` or `-`. */
const TOKEN_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function digest(token: string): Uint8Array {
  return createHash("sha256").update(token).digest();
}

/** Whether `host` is a loopback address (or `localhost`). */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare === "localhost" || bare === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** The outcome of checking a request's `Authorization` header. */
export type AuthResult =
  | { ok: true; actor: string }
  | { ok: false; status: 401 | 403; message: string };

/** The configured admin tokens. */
export class AdminTokens {
  readonly #tokens: ReadonlyArray<{ name: string; digest: Uint8Array }>;
  readonly #any: string | undefined;

  /** Holds `tokens` (name and token); see {@linkcode AdminTokens.fromEnv}. */
  constructor(tokens: ReadonlyArray<{ name: string; token: string }>) {
    this.#tokens = tokens.map(({ name, token }) => ({ name, digest: digest(token) }));
    this.#any = tokens[0]?.token;
  }

  /**
   * Reads the tokens `admin.token_env` and `admin.tokens_env` name from `env`, and checks that
   * the listener may start: with no token at all only on a loopback `admin.host`.
   *
   * @throws {ConfigError} naming the field at fault (`file` is the config file, for the
   *   message): a variable set but empty, a token shorter than 16 characters, a malformed or
   *   duplicate name, `tokens_env` naming an unset variable, or no token on a non-loopback host.
   */
  static fromEnv(
    admin: GatewayConfig["admin"],
    env: Readonly<Record<string, string | undefined>>,
    file: string,
  ): AdminTokens {
    const fail = (field: string, message: string) =>
      new ConfigError(file, `admin.${field}: ${message}`);
    const tokens: { name: string; token: string }[] = [];
    const add = (field: string, name: string, token: string) => {
      if (token.length < MIN_TOKEN_LENGTH) {
        throw fail(
          field,
          `the token named "${name}" is ${token.length} characters; use at least ${MIN_TOKEN_LENGTH}`,
        );
      }
      if (tokens.some((other) => other.name === name)) {
        throw fail(field, `the token name "${name}" is used twice`);
      }
      tokens.push({ name, token });
    };
    const single = env[admin.token_env];
    if (single !== undefined) {
      if (single.trim() === "") throw fail("token_env", `${admin.token_env} is set but empty`);
      add("token_env", DEFAULT_TOKEN_NAME, single);
    }
    if (admin.tokens_env !== "") {
      const list = env[admin.tokens_env];
      if (list === undefined) throw fail("tokens_env", `${admin.tokens_env} is not set`);
      if (list.trim() === "") throw fail("tokens_env", `${admin.tokens_env} is set but empty`);
      for (const item of list.split(",")) {
        const colon = item.indexOf(":");
        const name = item.slice(0, colon).trim();
        if (colon < 0 || !TOKEN_NAME.test(name)) {
          throw fail(
            "tokens_env",
            `${admin.tokens_env} must hold name:token items separated by commas, names of 1-64 letters, digits, _, . or -`,
          );
        }
        add("tokens_env", name, item.slice(colon + 1).trim());
      }
    }
    if (tokens.length === 0 && !isLoopback(admin.host)) {
      throw fail(
        "host",
        `${admin.host} is not a loopback address and no admin token is set ` +
          `(${admin.token_env}); set one, or bind 127.0.0.1`,
      );
    }
    return new AdminTokens(tokens);
  }

  /** How many tokens are configured; 0 means an open listener on loopback. */
  get size(): number {
    return this.#tokens.length;
  }

  /** One configured token, for a `--workers` supervisor talking to its own workers. */
  get anyToken(): string | undefined {
    return this.#any;
  }

  /**
   * Checks an `Authorization` header: 401 without a bearer token, 403 with a token that
   * matches none. Every configured token is compared, whichever matches.
   */
  check(authorization: string | null): AuthResult {
    if (this.#tokens.length === 0) return { ok: true, actor: LOOPBACK_ACTOR };
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
    if (!match) {
      return { ok: false, status: 401, message: "Send Authorization: Bearer <admin token>" };
    }
    const presented = digest(match[1]);
    let actor: string | undefined;
    for (const token of this.#tokens) {
      if (timingSafeEqual(presented, token.digest) && actor === undefined) actor = token.name;
    }
    return actor === undefined
      ? { ok: false, status: 403, message: "The admin token is not valid" }
      : { ok: true, actor };
  }
}
