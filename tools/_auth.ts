/**
 * Tokens for the tools, for gateways with `auth.mode: "jwt"`: one token from a flag or a file,
 * or, for load runs, a token minted per connection from an HMAC secret in the environment; and a
 * connector wrapper that logs each new connection in before handing it on.
 *
 * @module
 */
import { SignJWT } from "jose";
import { UsageError } from "../src/config/cli_args.ts";
import { ConnectError, type Connector } from "./_client_connection.ts";

/** Flags that give one token. */
export const TOKEN_OPTIONS = {
  token: { type: "string" },
  "token-file": { type: "string" },
} as const;

/** Usage lines of {@linkcode TOKEN_OPTIONS}. */
export const TOKEN_USAGE =
  `  -token <jwt>          log in with this token first (gateways with auth.mode jwt)
  -token-file <file>    the same, read from a file (keeps the token out of the process list)`;

/** The flag that mints tokens (load runs). */
export const MINT_OPTIONS = { "jwt-secret-env": { type: "string" } } as const;

/** Usage lines of {@linkcode MINT_OPTIONS}. */
export const MINT_USAGE =
  `  -jwt-secret-env <var>  mint an HS256 token per session (sub load-<run>-<n>, valid 24 h) with
                        the secret in this environment variable, as auth.jwt.hmac_secret_env`;

/**
 * Reads the token of `-token` or `-token-file`.
 *
 * @throws {UsageError} when both are given, or the file is unreadable or empty.
 */
export async function readToken(
  flags: { token?: string; "token-file"?: string },
): Promise<string | undefined> {
  if (flags.token !== undefined && flags["token-file"] !== undefined) {
    throw new UsageError("Give --token or --token-file, not both");
  }
  if (flags["token-file"] === undefined) return flags.token;
  let text;
  try {
    text = await Deno.readTextFile(flags["token-file"]);
  } catch (error) {
    throw new UsageError(
      `Cannot read --token-file ${flags["token-file"]}: ${(error as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === "") throw new UsageError(`--token-file ${flags["token-file"]} is empty`);
  return token;
}

/** Gives the token for the `n`th connection of this process. */
export type TokenSource = (n: number) => Promise<string>;

/**
 * A source that mints a token per connection with the HMAC secret in `variable`; each process
 * picks its own run id, so subjects never repeat across `-procs` workers.
 *
 * @throws {UsageError} when the variable is unset or empty.
 */
export function mintTokens(variable: string): TokenSource {
  const secret = Deno.env.get(variable);
  if (!secret) throw new UsageError(`--jwt-secret-env: ${variable} is unset or empty`);
  const key = new TextEncoder().encode(secret);
  const run = crypto.randomUUID().slice(0, 8);
  return (n) =>
    new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject(`load-${run}-${n}`)
      .setIssuedAt().setExpirationTime("24h").sign(key);
}

/**
 * Wraps `connect` so that every connection first sends `{"type":"auth"}` with a token from
 * `tokens` and is handed on only once the gateway accepted it.
 */
export function withAuth(connect: Connector, tokens: TokenSource): Connector {
  let count = 0;
  return async (options) => {
    const token = await tokens(count++);
    const connection = await connect(options);
    const answered = Promise.withResolvers<{ type?: string; code?: string }>();
    connection.onMessage = (text) => {
      try {
        answered.resolve(JSON.parse(text));
      } catch {
        answered.resolve({});
      }
    };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
    });
    try {
      await connection.send(JSON.stringify({ type: "auth", id: 0, data: { token } }));
      const reply = await Promise.race([answered.promise, connection.closed, timeout]);
      if (reply === "timeout") throw new ConnectError("auth_timeout", "No answer to auth");
      if ("byClient" in reply) {
        throw new ConnectError(`auth_closed_${reply.code}`, `Closed during auth: ${reply.code}`);
      }
      if (reply.type !== "response") {
        throw new ConnectError(`auth_${reply.code ?? "refused"}`, "The gateway refused the token");
      }
    } catch (error) {
      await connection.close();
      throw error instanceof ConnectError
        ? error
        : new ConnectError("auth_failed", String(error), { cause: error });
    } finally {
      clearTimeout(timer);
      connection.onMessage = undefined;
    }
    return connection;
  };
}
