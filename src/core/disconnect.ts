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
  /**
   * Whether a resumable session outlives this disconnect: its connection is gone, but the
   * session is kept detached for `session.resume_window_sec` so the client can resume it.
   * False: the session ends for good.
   */
  readonly detach: boolean;
}

/** Label values of `gateway_disconnects_total{reason}`. */
export type DisconnectLabel =
  | "client_closed"
  | "shutdown"
  | "protocol_errors"
  | "message_too_big"
  | "protocol_violation"
  | "invalid_text"
  | "handshake_timeout"
  | "heartbeat_timeout"
  | "transport_error"
  | "server_full"
  | "token_expired"
  | "unauthorized"
  | "auth_timeout"
  | "logged_in_elsewhere"
  | "already_logged_in"
  | "kicked"
  | "client_away"
  | "draining"
  | "resumed"
  | "resume_expired"
  | "resume_overflow"
  | "slow_consumer"
  | "rate_limited";

function disconnect(
  code: number,
  reason: string,
  reconnect: boolean,
  label: DisconnectLabel,
  detach = false,
) {
  return Object.freeze({ code, reason, reconnect, label, detach }) satisfies Disconnect;
}

/**
 * The client said goodbye: a WebSocket close with 1000 (or without a code), a QUIC close with
 * 1000 (or 0) or the end of its stream. The session ends for good.
 */
export const DisconnectClientClosed = disconnect(1000, "client closed", false, "client_closed");
/**
 * The client closed with another code (e.g. 1001 when a page unloads, 4000 when the SDK gave up
 * on a silent connection): it may come back, so a resumable session is detached.
 */
export const DisconnectClientAway = disconnect(1001, "client went away", true, "client_away", true);
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
/**
 * The client broke RFC 6455 framing (an unmasked frame, a bad opcode, a fragmented control
 * frame); sent by the `gateway` WebSocket engine, whose parser sees the frames.
 */
export const DisconnectProtocolViolation = disconnect(
  1002,
  "protocol error",
  false,
  "protocol_violation",
);
/** A text message was not valid UTF-8; sent by the `gateway` WebSocket engine. */
export const DisconnectInvalidText = disconnect(1007, "invalid UTF-8", false, "invalid_text");
/**
 * The connection failed underneath the session (reset, a WebSocket gone without a close frame,
 * a QUIC idle timeout): a resumable session is detached.
 */
export const DisconnectTransportError = disconnect(
  1011,
  "transport error",
  true,
  "transport_error",
  true,
);
/** No inbound frame within the heartbeat TTL: a dropped network, so a resumable session is detached. */
export const DisconnectHeartbeatTimeout = disconnect(
  4000,
  "heartbeat timeout",
  true,
  "heartbeat_timeout",
  true,
);
/**
 * A QUIC connection opened no stream within `limits.handshake_timeout_ms`: a client that says
 * nothing holds no session for long.
 */
export const DisconnectHandshakeTimeout = disconnect(
  4007,
  "handshake timeout",
  true,
  "handshake_timeout",
);
/** The listener is at `max_connections` (QUIC; WebSocket and WebTransport refuse with HTTP 503). */
export const DisconnectServerFull = disconnect(4001, "server full", true, "server_full");
/**
 * The client read too slowly: more than `limits.max_outbound_bytes` waited to be sent to it.
 * Its connection is torn down rather than left to deliver what it cannot read. A resumable
 * session is detached, as for a dropped network: a client that stalled for a moment (a tunnel,
 * a switch of network) resumes and is replayed what it missed, within its resume buffer.
 */
export const DisconnectSlowConsumer = disconnect(
  4002,
  "slow consumer",
  true,
  "slow_consumer",
  true,
);
/** The session's token ran out (its `exp` plus the leeway) without a refresh; reconnect with a new one. */
export const DisconnectTokenExpired = disconnect(4003, "token expired", true, "token_expired");
/**
 * The node is draining (shutdown in a cluster): reconnect at once and resume, the load balancer
 * sends the client to another node, which takes the session over. A resumable session is
 * detached until then.
 */
export const DisconnectResumeElsewhere = disconnect(
  4004,
  "node draining; resume elsewhere",
  true,
  "draining",
  true,
);
/**
 * Never sent: a detached session's `session.resume_window_sec` ran out without a resume, and
 * it ended for good.
 */
export const DisconnectResumeExpired = disconnect(
  4005,
  "resume window expired",
  true,
  "resume_expired",
);
/**
 * Never sent: while detached, the session was sent more than `session.resume_buffer_bytes` (or
 * `resume_buffer_messages`) it could keep, so it could no longer be resumed without a gap and
 * ended for good.
 */
export const DisconnectResumeOverflow = disconnect(
  4006,
  "resume buffer full",
  true,
  "resume_overflow",
);
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
 * The client went on sending over its rate limit (`limits.messages_per_sec`, `limits.routes`)
 * after more than `limits.max_rate_violations` `rate_limited` answers within
 * `limits.rate_violation_window_sec`. Do not reconnect without a change (the client SDK
 * stops): a client that floods on purpose or by a bug would flood again.
 */
export const DisconnectRateLimited = disconnect(4504, "rate limited", false, "rate_limited");
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
  return disconnect(base.code, clean || base.reason, base.reconnect, base.label, base.detach);
}

/**
 * The session went on on another connection (a resume, on this node or another): an old
 * connection still open gets this code, and the session's old place counts it as `resumed`.
 * The client is elsewhere already; this connection must not reconnect.
 */
export const DisconnectResumedElsewhere = disconnect(
  4506,
  "session resumed elsewhere",
  false,
  "resumed",
  true,
);
