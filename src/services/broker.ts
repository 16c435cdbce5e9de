/**
 * The broker carries pushes to the sessions they target: on this node only (`broker_memory.ts`)
 * or on every gateway node of a cluster (`broker_nats.ts`). Envelopes arrive encoded, so a
 * fan-out is encoded once.
 *
 * @module
 */
import type { EncodedPush } from "../core/protocol.ts";

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
