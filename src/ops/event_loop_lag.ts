/**
 * Measures event-loop lag: how late a timer fires compared to when it was due. A busy or
 * blocked loop delays every session at once, so operators watch this first.
 *
 * @module
 */

/** Options for {@linkcode EventLoopLagMonitor}. */
export interface EventLoopLagMonitorOptions {
  /** How often to sample, in ms. */
  intervalMs?: number;
  /** Stops the monitor when aborted. */
  signal?: AbortSignal;
}

/** Samples event-loop lag on a timer; read `latestMs` and `takeMaxMs()` at scrape time. */
export class EventLoopLagMonitor implements Disposable {
  #latestMs = 0;
  #maxMs = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Starts sampling. */
  constructor(options: EventLoopLagMonitorOptions = {}) {
    const intervalMs = options.intervalMs ?? 500;
    let expected = performance.now() + intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#latestMs = Math.max(0, now - expected);
      if (this.#latestMs > this.#maxMs) this.#maxMs = this.#latestMs;
      expected = now + intervalMs;
    }, intervalMs);
    Deno.unrefTimer(this.#timer);
    options.signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** Lag of the latest sample, in ms. */
  get latestMs(): number {
    return this.#latestMs;
  }

  /** Largest lag since the previous call, in ms; resets the maximum. */
  takeMaxMs(): number {
    const max = this.#maxMs;
    this.#maxMs = this.#latestMs;
    return max;
  }

  /** Stops sampling; safe to call twice. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops sampling. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
