/**
 * The single-node broker: every session is on this node, so a push is a local delivery.
 *
 * @module
 */
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
  toSession(sessionId: string, text: string): void {
    this.#hub.deliverToSession(sessionId, text);
  }

  /** Delivers to a user's local sessions. */
  toUser(userId: string, text: string): void {
    this.#hub.deliverToUser(userId, text);
  }

  /** Delivers to a group's local members. */
  toGroup(group: string, text: string, exceptSessionId?: string): void {
    this.#hub.deliverToGroup(group, text, exceptSessionId);
  }

  /** Delivers to every local session. */
  toAll(text: string): void {
    this.#hub.deliverToAll(text);
  }

  /** Nothing to release. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
