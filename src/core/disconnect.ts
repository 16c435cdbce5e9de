/**
 * Every reason the gateway closes a session, as values from one table.
 *
 * Code ranges:
 * - 1000–2999: standard WebSocket close codes (RFC 6455), used where one fits.
 * - 4000–4499: gateway closes after which the client should reconnect.
 * - 4500–4999: gateway closes after which the client should not reconnect without a change.
 *
 * QUIC carries the same numbers as its application error code.
 *
 * @module
 */

/** Why a session ended, as sent to the client and counted in metrics. */
export interface Disconnect {
  /** Close code sent to the client. */
  readonly code: number;
  /** Short reason sent to the client (at most 123 bytes, a WebSocket limit). */
  readonly reason: string;
  /** Whether the client should reconnect. */
  readonly reconnect: boolean;
  /** Metric label value; one of a fixed set, never client input. */
  readonly label: DisconnectLabel;
}

/** Label values of `gateway_disconnects_total{reason}`. */
export type DisconnectLabel =
  | "client_closed"
  | "shutdown"
  | "protocol_errors"
  | "message_too_big"
  | "heartbeat_timeout"
  | "transport_error"
  | "server_full"
  | "token_expired"
  | "unauthorized"
  | "auth_timeout"
  | "logged_in_elsewhere"
  | "already_logged_in"
  | "kicked";

function disconnect(code: number, reason: string, reconnect: boolean, label: DisconnectLabel) {
  return Object.freeze({ code, reason, reconnect, label }) satisfies Disconnect;
}

/** The client closed the connection (any code it chose). */
export const DisconnectClientClosed = disconnect(1000, "client closed", false, "client_closed");
/** The gateway is shutting down; reconnect to another node or later. */
export const DisconnectShutdown = disconnect(1001, "going away", true, "shutdown");
/** The client kept sending malformed or unknown frames. */
export const DisconnectProtocolErrors = disconnect(
  1008,
  "too many protocol errors",
  false,
  "protocol_errors",
);
/** A frame exceeded the configured maximum message size. */
export const DisconnectMessageTooBig = disconnect(1009, "message too big", true, "message_too_big");
/** The connection failed underneath the session (reset, I/O error). */
export const DisconnectTransportError = disconnect(
  1011,
  "transport error",
  true,
  "transport_error",
);
/** No inbound frame within the heartbeat TTL. */
export const DisconnectHeartbeatTimeout = disconnect(
  4000,
  "heartbeat timeout",
  true,
  "heartbeat_timeout",
);
/** The listener is at `max_connections` (QUIC; WebSocket and WebTransport refuse with HTTP 503). */
export const DisconnectServerFull = disconnect(4001, "server full", true, "server_full");
/** The session's token ran out (its `exp` plus the leeway) without a refresh; reconnect with a new one. */
export const DisconnectTokenExpired = disconnect(4003, "token expired", true, "token_expired");
/** The token was refused (signature, issuer, audience, algorithm, expiry, form); do not retry it. */
export const DisconnectUnauthorized = disconnect(4500, "unauthorized", false, "unauthorized");
/** No successful `auth` within `auth.timeout_ms` of connecting. */
export const DisconnectAuthTimeout = disconnect(
  4501,
  "authentication timeout",
  false,
  "auth_timeout",
);
/** The same user logged in again, on this node or another (`duplicate_login: kick_old`). */
export const DisconnectLoggedInElsewhere = disconnect(
  4502,
  "logged in elsewhere",
  false,
  "logged_in_elsewhere",
);
/** The user already has a session (`duplicate_login: reject_new`). */
export const DisconnectAlreadyLoggedIn = disconnect(
  4503,
  "already logged in",
  false,
  "already_logged_in",
);
/**
 * An operator closed the session through the admin API. Sent with the operator's reason (see
 * {@linkcode withReason}); this value's reason is the fallback when none was given.
 */
export const DisconnectKicked = disconnect(4505, "kicked", false, "kicked");

/** Largest close reason in UTF-8 bytes: a WebSocket close frame's payload limit minus the code. */
export const MAX_REASON_BYTES = 123;

const encoder = new TextEncoder();

/**
 * `base` with another reason, e.g. {@linkcode DisconnectKicked} with an operator's words: same
 * code, label and reconnect advice. Control characters become spaces and the reason is cut to
 * {@linkcode MAX_REASON_BYTES} UTF-8 bytes without splitting a character; an empty result
 * keeps `base`'s reason.
 */
export function withReason(base: Disconnect, reason: string): Disconnect {
  // deno-lint-ignore no-control-regex
  let clean = reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").replace(/ {2,}/g, " ").trim();
  if (encoder.encode(clean).length > MAX_REASON_BYTES) {
    let bytes = 0;
    let end = 0;
    for (const char of clean) {
      const size = encoder.encode(char).length;
      if (bytes + size > MAX_REASON_BYTES) break;
      bytes += size;
      end += char.length;
    }
    clean = clean.slice(0, end);
  }
  return disconnect(base.code, clean || base.reason, base.reconnect, base.label);
}
