/**
 * Inbound rate limits (`limits.messages_per_sec`, `limits.burst`, `limits.routes`): a token
 * bucket per session, optional per-route buckets on top, and the count of refusals after which
 * a flooding session is closed (`limits.max_rate_violations` within
 * `limits.rate_violation_window_sec`).
 *
 * The gateway asks once per inbound message, with the clock reading it takes anyway; a bucket
 * is two numbers refilled by arithmetic on that reading, so an admitted message allocates
 * nothing.
 *
 * @module
 */
/** A bucket's refill rate and size. */
export interface BucketLimit {
  /** Tokens added per second, continuously; fractions allowed. */
  readonly perSec: number;
  /** Most tokens the bucket holds: the messages that may come at once. */
  readonly burst: number;
}

/**
 * One token bucket: starts full, loses a token per message and refills at `perSec`. Times are
 * milliseconds on any monotonic clock (the gateway's `performance.now()`).
 */
export class TokenBucket {
  /** Tokens left, fractional between refills. */
  tokens: number;
  /** When `tokens` was last brought up to date. */
  updatedAt: number;

  /** A full bucket for `limit`, as of `now`. */
  constructor(limit: BucketLimit, now: number) {
    this.tokens = limit.burst;
    this.updatedAt = now;
  }

  /** Refills for the time since the last call, then takes one token if a whole one is left. */
  take(limit: BucketLimit, now: number): boolean {
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      const tokens = this.tokens + elapsed * limit.perSec / 1000;
      this.tokens = tokens < limit.burst ? tokens : limit.burst;
      this.updatedAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/** What {@linkcode RateLimiter.admit} decided about one message. */
export const RateVerdict = {
  /** Within every limit: route it. */
  admitted: 0,
  /** Over a limit: answer `rate_limited`, do not route it. */
  limited: 1,
  /** Over a limit once too often within the window: close the session (4504). */
  close: 2,
} as const;

/** One of the {@linkcode RateVerdict} values. */
export type RateVerdict = typeof RateVerdict[keyof typeof RateVerdict];

/** One session's buckets and refusals; created on its first message. */
export interface SessionRate {
  /** The session's own bucket; undefined when `messages_per_sec` is 0. */
  readonly bucket: TokenBucket | undefined;
  /** Buckets of limited routes this session used, created on first use. */
  routes: Map<string, TokenBucket> | undefined;
  /** Refusals since `windowStart`. */
  violations: number;
  /** When the current violation window began. */
  windowStart: number;
}

/** What the limiter keeps on a session (`Session.rate`). */
export interface RateLimited {
  /** The session's buckets; undefined until its first message. */
  rate: SessionRate | undefined;
}

/** Options for {@linkcode RateLimiter}, from the `limits` config section. */
export interface RateLimiterOptions {
  /** Messages per second per session; 0 turns the session bucket off. */
  messagesPerSec: number;
  /** The session bucket's size. */
  burst: number;
  /** Per-route buckets, by route name. */
  routes?: Readonly<Record<string, { per_sec: number; burst: number }>>;
  /** Refusals allowed within the window before the session is closed. */
  maxViolations: number;
  /** The window refusals are counted in, ms. */
  violationWindowMs: number;
}

/** Label of `gateway_rate_limited_total{route}` for refusals by the session's own bucket. */
export const SESSION_BUCKET_LABEL = "session";

/** Decides, per inbound message, whether a session is within its rate limits. */
export class RateLimiter {
  readonly #session: BucketLimit | undefined;
  readonly #routes: ReadonlyMap<string, BucketLimit>;
  readonly #maxViolations: number;
  readonly #windowMs: number;
  /** The label of the latest refusal: a limited route's name or {@linkcode SESSION_BUCKET_LABEL}. */
  #refusedBy = SESSION_BUCKET_LABEL;

  /** Creates a limiter; see {@linkcode RateLimiter.from} for one that may be off. */
  constructor(options: RateLimiterOptions) {
    this.#session = options.messagesPerSec > 0
      ? { perSec: options.messagesPerSec, burst: options.burst }
      : undefined;
    this.#routes = new Map(
      Object.entries(options.routes ?? {}).map(([route, limit]) => [
        route,
        { perSec: limit.per_sec, burst: limit.burst },
      ]),
    );
    this.#maxViolations = options.maxViolations;
    this.#windowMs = options.violationWindowMs;
  }

  /** A limiter for `options`, or undefined when no limit is on (the hot path then pays nothing). */
  static from(options: RateLimiterOptions): RateLimiter | undefined {
    const limiter = new RateLimiter(options);
    return limiter.#session === undefined && limiter.#routes.size === 0 ? undefined : limiter;
  }

  /** The routes with their own bucket: the only route values of the metric's label. */
  get limitedRoutes(): readonly string[] {
    return [...this.#routes.keys()];
  }

  /**
   * What the latest `limited` or `close` verdict was refused by: a limited route's name, or
   * {@linkcode SESSION_BUCKET_LABEL}. Never client input.
   */
  get refusedBy(): string {
    return this.#refusedBy;
  }

  /**
   * Takes a token for one message of `session` (to `route`, when it has one) at `now` ms: the
   * session's bucket first, then the route's (a message its route refuses has used a session
   * token: it was sent all the same).
   */
  admit(session: RateLimited, route: string | undefined, now: number): RateVerdict {
    const rate = session.rate ??= {
      bucket: this.#session && new TokenBucket(this.#session, now),
      routes: undefined,
      violations: 0,
      windowStart: now,
    };
    if (rate.bucket !== undefined && !rate.bucket.take(this.#session!, now)) {
      return this.#refused(rate, SESSION_BUCKET_LABEL, now);
    }
    if (route === undefined || this.#routes.size === 0) return RateVerdict.admitted;
    const limit = this.#routes.get(route);
    if (limit === undefined) return RateVerdict.admitted;
    const routes = rate.routes ??= new Map();
    let bucket = routes.get(route);
    if (bucket === undefined) routes.set(route, bucket = new TokenBucket(limit, now));
    if (bucket.take(limit, now)) return RateVerdict.admitted;
    return this.#refused(rate, route, now);
  }

  #refused(rate: SessionRate, label: string, now: number): RateVerdict {
    this.#refusedBy = label;
    if (now - rate.windowStart >= this.#windowMs) {
      rate.windowStart = now;
      rate.violations = 0;
    }
    return ++rate.violations > this.#maxViolations ? RateVerdict.close : RateVerdict.limited;
  }
}
