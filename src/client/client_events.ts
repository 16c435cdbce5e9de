/**
 * The client's lifecycle events, one named handler type each.
 *
 * @module
 */
import type { GatewayError } from "./client_error.ts";
import type { TransportKind } from "./client_transport.ts";

/** A session began. */
export interface OpenEvent {
  /** The session id, when the gateway tells it (with auth or resume on). */
  session: string | undefined;
  /** The authenticated user, when a token was sent. */
  user: string | undefined;
  /** The transport it runs on. */
  transport: TransportKind;
  /** True after a reconnect that could not resume: the old session's state (joined rooms,
   * subscriptions) is gone, so join again here. */
  reconnected: boolean;
}

/** The connection dropped and the client will try again after `delayMs`. */
export interface ReconnectingEvent {
  /** The close code of the connection that ended (or 1006 for one that could not open). */
  code: number;
  /** Its reason. */
  reason: string;
  /** The attempt about to be made: 1, 2, 3... */
  attempt: number;
  /** How long the client waits before it, in ms. */
  delayMs: number;
}

/** A reconnect resumed the old session: nothing was lost. */
export interface ResumedEvent {
  /** The session id. */
  session: string | undefined;
  /** How many missed messages the gateway replays. */
  replayed: number;
}

/** The client stopped for good: closed by the app, or by a close it must not retry. */
export interface ClosedEvent {
  /** The close code (docs/protocol.md, Close codes). */
  code: number;
  /** The close reason. */
  reason: string;
}

/** Called when a session begins; the first one is the one `connect` resolves with. */
export type OpenHandler = (event: OpenEvent) => void;
/** Called before each reconnect attempt. */
export type ReconnectingHandler = (event: ReconnectingEvent) => void;
/** Called when a reconnect resumed the session. */
export type ResumedHandler = (event: ResumedEvent) => void;
/** Called once when the client stops for good. */
export type ClosedHandler = (event: ClosedEvent) => void;
/** Called for failures no request owns: an error reply without an id, a token refresh that
 * failed, a message that is not an envelope. */
export type ErrorHandler = (error: GatewayError) => void;

/** The lifecycle events by name, with their handler types. */
export interface ClientEvents {
  /** A session began. */
  open: OpenHandler;
  /** A reconnect attempt is coming. */
  reconnecting: ReconnectingHandler;
  /** A reconnect resumed the session. */
  resumed: ResumedHandler;
  /** The client stopped for good. */
  closed: ClosedHandler;
  /** A failure no request owns. */
  error: ErrorHandler;
}

/** A handler for pushes to one route, called with the push's `data`. */
export type PushHandler<T = unknown> = (data: T, route: string) => void;
