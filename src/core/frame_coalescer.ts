/**
 * Outbound coalescing: envelopes written to one connection during one turn of the event loop
 * leave as a single frame. Each WebSocket frame costs the runtime a fixed amount of work
 * whatever its size, so a fan-out or a burst of replies costs far less as one frame per
 * connection per turn. Connections opt in (docs/protocol.md, "Batched frames").
 *
 * @module
 */

/** The WebSocket subprotocol a client offers to receive batched frames. */
export const BATCH_SUBPROTOCOL = "mmo.batch.v1";

/** Joins encoded envelopes into one frame: alone as they are, several as a JSON array. */
export function joinEnvelopes(envelopes: readonly string[]): string {
  return envelopes.length === 1 ? envelopes[0] : `[${envelopes.join(",")}]`;
}

/** Something with output waiting for the end of the turn. */
export interface PendingOutput {
  /** Sends what is waiting. */
  flushPending(): void;
}

/**
 * Flushes every connection that got output during the current turn, once, on a microtask: it
 * runs after every handler that the same batch of socket events woke has returned.
 */
export class FlushScheduler {
  #pending: PendingOutput[] = [];
  #scheduled = false;

  /** Flushes `output` at the end of this turn. Call once per turn per connection. */
  schedule(output: PendingOutput): void {
    this.#pending.push(output);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(this.#run);
  }

  #run = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (const output of pending) output.flushPending();
  };
}

/** The scheduler shared by every connection of this process. */
export const flushScheduler: FlushScheduler = new FlushScheduler();
