/**
 * The broker carries pushes to the sessions they target: on this node only (`broker_memory.ts`)
 * or on every gateway node of a cluster (`broker_nats.ts`). Envelopes arrive encoded, so a
 * fan-out is encoded once.
 *
 * @module
 */

/** An encoded push envelope and how to deliver it. */
export interface EncodedPush {
  /** The encoded `{"type":"push",...}` envelope. */
  readonly text: string;
  /** Send as a QUIC datagram where the session's transport can (e.g. position updates). */
  readonly unreliable: boolean;
}

/** Delivers encoded push envelopes to sessions, wherever they are connected. */
export interface Broker extends AsyncDisposable {
  /** Pushes to one session by id. */
  toSession(sessionId: string, push: EncodedPush): void;
  /** Pushes to every session of a user. */
  toUser(userId: string, push: EncodedPush): void;
  /** Pushes to every member of a group, optionally but one session. */
  toGroup(group: string, push: EncodedPush, exceptSessionId?: string): void;
  /** Pushes to every session. */
  toAll(push: EncodedPush): void;
}
