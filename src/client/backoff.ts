/**
 * Reconnect delays: exponential growth with jitter, so that thousands of clients dropped by one
 * gateway restart do not all come back in the same instant.
 *
 * @module
 */

/** Options for {@linkcode backoffDelay} and the client's `reconnect` option. */
export interface BackoffOptions {
  /** Delay before the first attempt, in ms (before jitter). Default 500. */
  initialDelayMs?: number;
  /** Upper bound of any delay, in ms. Default 15,000. */
  maxDelayMs?: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier?: number;
  /** Source of randomness in [0, 1); injectable for tests. Default `Math.random`. */
  random?: () => number;
}

/** Defaults of {@linkcode BackoffOptions}. */
export const BACKOFF_DEFAULTS: Required<BackoffOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 15_000,
  multiplier: 2,
  random: Math.random,
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first): the exponential step
 * `initial × multiplier^attempt`, capped at `maxDelayMs`, then jittered down to between half and
 * all of it. Half keeps some spacing between attempts; the random half spreads clients apart.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { initialDelayMs, maxDelayMs, multiplier, random } = { ...BACKOFF_DEFAULTS, ...options };
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(
      `Cannot compute a backoff delay: attempt ${attempt} is not an integer ≥ 0`,
    );
  }
  const step = Math.min(maxDelayMs, initialDelayMs * multiplier ** attempt);
  return Math.round(step / 2 + (step / 2) * random());
}
