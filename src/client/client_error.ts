/**
 * The one error type the SDK rejects with, and the codes it adds to the protocol's own.
 *
 * @module
 */

/**
 * Codes of failures the SDK detects itself, never sent by the gateway. The gateway's codes
 * (`unknown_route`, `timeout`, `unauthorized`, ...) are documented in docs/protocol.md.
 */
export const ClientErrorCode = {
  /** The connection dropped and the request's fate is unknown: no answer came from the
   * session's replay, or the session could not be resumed. Safe to retry if idempotent. */
  connectionLost: "connection_lost",
  /** No answer within the request's timeout (the SDK's own clock, not the gateway's). */
  requestTimeout: "request_timeout",
  /** The client was closed, or stopped reconnecting, before the request was answered. */
  closed: "closed",
  /** The first connection could not be opened (refused, timed out, handshake failed). */
  connectFailed: "connect_failed",
  /** The gateway sent something that is not an envelope. */
  badMessage: "bad_message",
  /** The app's `getToken` failed, so the session could not authenticate. */
  tokenUnavailable: "token_unavailable",
} as const;

/** One of the {@linkcode ClientErrorCode} values. */
export type ClientErrorCode = typeof ClientErrorCode[keyof typeof ClientErrorCode];

/** Options for {@linkcode GatewayError}. */
export interface GatewayErrorOptions extends ErrorOptions {
  /** The route of the request that failed, when there was one. */
  route?: string;
}

/**
 * A failed request or connection. `code` is the protocol's error code when the gateway
 * answered with an error (`unknown_route`, `timeout`, ...), else one of
 * {@linkcode ClientErrorCode}.
 */
export class GatewayError extends Error {
  /** What failed, as a stable code to match on. */
  readonly code: string;
  /** The route of the request that failed, when there was one. */
  readonly route: string | undefined;

  /** Creates an error with a `code` to match on and a message for humans. */
  constructor(code: string, message: string, options?: GatewayErrorOptions) {
    super(message, options);
    this.name = "GatewayError";
    this.code = code;
    this.route = options?.route;
  }
}
