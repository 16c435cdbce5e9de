/**
 * The events the gateway's parts report and observers (metrics, logs) receive: named handler
 * types, one per event. Nothing here depends on a transport or on metrics.
 *
 * @module
 */
import { type ErrorCode, RESUME_FAILURE_REASONS, type ResumeFailureReason } from "./protocol.ts";
import type { TransportKind } from "./transport.ts";

/** Why a connection was refused before it became a session (label values). */
export type RejectReason =
  | "max_connections"
  | "draining"
  | "origin_not_allowed"
  | "bad_handshake"
  | "handshake_timeout";

/** Every {@linkcode RejectReason}, for metrics that list each one even at zero. */
export const REJECT_REASONS: readonly RejectReason[] = [
  "max_connections",
  "draining",
  "origin_not_allowed",
  "bad_handshake",
  "handshake_timeout",
];

/** Called for every inbound frame, with its size in bytes. */
export type FrameReceivedHandler = (kind: TransportKind, bytes: number) => void;
/** Called for every outbound frame, with its size in bytes. */
export type FrameSentHandler = (kind: TransportKind, bytes: number) => void;
/** Called for every inbound datagram (QUIC), with its size in bytes. */
export type DatagramReceivedHandler = (kind: TransportKind, bytes: number) => void;
/** Called for every outbound datagram (QUIC), with its size in bytes. */
export type DatagramSentHandler = (kind: TransportKind, bytes: number) => void;
/** Called when a frame is answered with an error reply. */
export type ErrorRepliedHandler = (code: ErrorCode) => void;
/** Called when a message has been handled, with how long that took in seconds. */
export type MessageHandledHandler = (seconds: number) => void;
/** Called when a session's round-trip time was measured, in seconds. */
export type RttMeasuredHandler = (kind: TransportKind, seconds: number) => void;

/** Observers of frame traffic; {@linkcode GatewayMetrics} implements them. */
export interface FrameEvents {
  /** A frame arrived. */
  onFrameReceived: FrameReceivedHandler;
  /** A frame was sent. */
  onFrameSent: FrameSentHandler;
  /** A datagram arrived. */
  onDatagramReceived: DatagramReceivedHandler;
  /** A datagram was sent. */
  onDatagramSent: DatagramSentHandler;
  /** A frame was answered with an error. */
  onErrorReplied: ErrorRepliedHandler;
  /** A message was handled. */
  onMessageHandled: MessageHandledHandler;
  /** A round trip was measured (a ping answered). */
  onRttMeasured?: RttMeasuredHandler;
}

/**
 * Why an outbound message was not sent (label values of `gateway_outbound_dropped_total`):
 * an unreliable push to a session with more than half of `limits.max_outbound_bytes` queued,
 * or the message that found a session past all of it, which is then closed (4002).
 */
export type OutboundDropReason = "slow_consumer_unreliable" | "slow_consumer_closed";

/** Every {@linkcode OutboundDropReason}, for metrics that list each one even at zero. */
export const OUTBOUND_DROP_REASONS: readonly OutboundDropReason[] = [
  "slow_consumer_unreliable",
  "slow_consumer_closed",
];

/** Called for each outbound message not sent to a slow consumer. */
export type OutboundDroppedHandler = (reason: OutboundDropReason) => void;
/**
 * Called for each message answered `rate_limited`, with what refused it: a route of
 * `limits.routes` or `session` (the session's own bucket); never client input.
 */
export type RateLimitedHandler = (route: string) => void;

/** Observers of the protection limits (`limits`). */
export interface LimitEvents {
  /** An outbound message was dropped. */
  onOutboundDropped: OutboundDroppedHandler;
  /** An inbound message was refused by a rate limit. */
  onRateLimited: RateLimitedHandler;
}

/** Called when a listener refuses a connection. */
export type ConnectionRejectedHandler = (reason: RejectReason) => void;
/** Called when a listener's accept loop dies (e.g. `EMFILE`). */
export type ListenerFailedHandler = (listener: string, error: unknown) => void;
/** Called when a listener is listening again after a failure. */
export type ListenerRestartedHandler = (listener: string) => void;

/** Observers of listeners. */
export interface ListenerEvents {
  /** A connection was refused. */
  onConnectionRejected: ConnectionRejectedHandler;
  /** A listener's accept loop died. */
  onListenerFailed: ListenerFailedHandler;
  /** A listener came back. */
  onListenerRestarted: ListenerRestartedHandler;
}

/** Outcomes of authentication (label values of `gateway_auth_total{result}`). */
export type AuthResult =
  | "ok"
  | "bad_token"
  | "expired"
  | "timeout"
  | "duplicate_kicked"
  | "duplicate_rejected";

/** Every {@linkcode AuthResult}, for metrics that list each one even at zero. */
export const AUTH_RESULTS: readonly AuthResult[] = [
  "ok",
  "bad_token",
  "expired",
  "timeout",
  "duplicate_kicked",
  "duplicate_rejected",
];

/** Called for each authentication outcome: an `auth` answered, a timeout, a duplicate settled. */
export type AuthenticatedHandler = (result: AuthResult) => void;

/** Observers of authentication. */
export interface AuthEvents {
  /** An authentication outcome. */
  onAuth: AuthenticatedHandler;
}

/** Outcomes of a `resume` (label values of `gateway_resumes_total{result}`). */
export type ResumeResult = "ok" | ResumeFailureReason;

/** Every {@linkcode ResumeResult}, for metrics that list each one even at zero. */
export const RESUME_RESULTS: readonly ResumeResult[] = ["ok", ...RESUME_FAILURE_REASONS];

/** Called for each `resume` answered: resumed, or the reason it failed. */
export type ResumedHandler = (result: ResumeResult) => void;
/** Called after a resume with the number of messages replayed to the client. */
export type ReplayedHandler = (messages: number) => void;

/** Observers of session resumes. */
export interface ResumeEvents {
  /** A resume outcome. */
  onResume: ResumedHandler;
  /** Messages replayed by a resume. */
  onReplayed: ReplayedHandler;
}
