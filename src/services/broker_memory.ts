/**
 * The single-node broker: every session is on this node, so a push is a local delivery.
 *
 * @module
 */
import type { EncodedPush } from "../core/protocol.ts";
import type { Broker } from "./broker.ts";
import type { Hub } from "./hub.ts";

/** A {@linkcode Broker} for one gateway process (embedded mode). */
export class MemoryBroker implements Broker {
  readonly #hub: Hub;

  /** Delivers through `hub`. */
  constructor(hub: Hub) {
    this.#hub = hub;
  }

  /** Delivers to one local session. */
  toSession(sessionId: string, push: EncodedPush): void {
    this.#hub.deliverToSession(sessionId, push);
  }

  /** Delivers to a user's local sessions. */
  toUser(userId: string, push: EncodedPush): void {
    this.#hub.deliverToUser(userId, push);
  }

  /** Delivers to a group's local members. */
  toGroup(group: string, push: EncodedPush, exceptSessionId?: string): void {
    this.#hub.deliverToGroup(group, push, exceptSessionId);
  }

  /** Delivers to every local session. */
  toAll(push: EncodedPush): void {
    this.#hub.deliverToAll(push);
  }

  /** Nothing to release. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
