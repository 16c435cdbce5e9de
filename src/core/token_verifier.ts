/**
 * Verifying a player's token: what the authenticator asks of a verifier and the ways a token
 * can be refused. The JWT implementation is `token_verifier_jwt.ts`.
 *
 * @module
 */

/** A token that passed every check. */
export interface VerifiedToken {
  /** The user: the token's `sub`. */
  readonly userId: string;
  /** The token's `exp`, seconds since the epoch; undefined when it has none. */
  readonly expiresAtSec: number | undefined;
  /** Every claim of the token, for services. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Why a token was refused, for the log; the client learns only that it was (`unauthorized`),
 * and whether it had expired.
 */
export type TokenFault =
  | "malformed"
  | "bad_signature"
  | "algorithm_not_allowed"
  | "unknown_key"
  | "expired"
  | "not_yet_valid"
  | "wrong_issuer"
  | "wrong_audience"
  | "bad_subject"
  | "bad_claims"
  | "unverifiable";

/** A token that failed a check; `fault` says which, `cause` holds the verifier's own error. */
export class TokenRejectedError extends Error {
  /** Creates the error. */
  constructor(readonly fault: TokenFault, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TokenRejectedError";
  }
}

/** Checks tokens. */
export interface TokenVerifier {
  /**
   * Verifies `token` and returns its user and claims.
   *
   * @throws {TokenRejectedError} (rejects with one) when any check fails.
   */
  verify(token: string): Promise<VerifiedToken>;
}

/**
 * The configured key cannot be used (unset secret, unreadable or unusable file). The message
 * starts with the config field, e.g. `auth.jwt.public_key_file: ...`, so it reads as a config
 * error.
 */
export class TokenKeyError extends Error {
  /** Creates the error for the config field `field` (dotted path). */
  constructor(readonly field: string, detail: string, options?: ErrorOptions) {
    super(`${field}: ${detail}`, options);
    this.name = "TokenKeyError";
  }
}
