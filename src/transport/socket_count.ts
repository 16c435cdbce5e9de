/**
 * A count of open sockets with a promise for when it reaches zero: how a listener lets a
 * drain wait for its connections.
 *
 * @module
 */

/** Counts open sockets; see the module doc. */
export class SocketCount {
  #open = 0;
  #whenZero: PromiseWithResolvers<void> | undefined;

  /** Sockets open now. */
  get open(): number {
    return this.#open;
  }

  /** One more socket opened. */
  opened(): void {
    this.#open++;
  }

  /** One socket closed; resolves the waiters when none are left. */
  closed = (): void => {
    if (--this.#open === 0 && this.#whenZero) {
      this.#whenZero.resolve();
      this.#whenZero = undefined;
    }
  };

  /** Resolves once no socket is open, or when `signal` aborts. */
  whenZero(signal?: AbortSignal): Promise<void> {
    if (this.#open === 0 || signal?.aborted) return Promise.resolve();
    this.#whenZero ??= Promise.withResolvers<void>();
    const { promise, resolve } = this.#whenZero;
    signal?.addEventListener("abort", () => resolve(), { once: true });
    return promise;
  }
}
