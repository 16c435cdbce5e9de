/**
 * Closes sessions that have been silent longer than the heartbeat TTL.
 *
 * Touching a session is a single store (`lastSeenAt`), so the per-frame cost stays flat; the
 * price is paid here, once per check interval, as one pass over the live sessions comparing
 * numbers. At 20,000 sessions that pass is a fraction of a millisecond every 10 s.
 *
 * @module
 */
import { DisconnectHeartbeatTimeout } from "./disconnect.ts";
import type { Session } from "./session.ts";

/** Timer functions; tests pass a manual scheduler instead of real time. */
export interface Scheduler {
  /** Calls `fn` every `ms`; returns a function that stops it. */
  every(fn: () => void, ms: number): () => void;
}

/** The real scheduler, on `setInterval`. */
export const realScheduler: Scheduler = {
  every: (fn, ms) => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

/** What the sweeper needs from the session registry. */
export interface SweepTarget {
  /** Live sessions. */
  values(): Iterable<Session>;
  /** Ends a session with a reason. */
  close(session: Session, disconnect: typeof DisconnectHeartbeatTimeout): boolean;
}

/** Options for {@linkcode HeartbeatSweeper}. */
export interface HeartbeatSweeperOptions {
  /** Idle time after which a session is closed, in ms. */
  ttlMs: number;
  /** Time between sweeps, in ms. */
  intervalMs: number;
  /** Clock, ms since the epoch. */
  now?: () => number;
  /** Timer source. */
  scheduler?: Scheduler;
  /** Called after each sweep with the number of sessions closed. */
  onSweep?: (closed: number, durationMs: number) => void;
  /** Stops the sweeper when aborted. */
  signal?: AbortSignal;
}

/**
 * Returns the live sessions idle for longer than `ttlMs` at time `now` (detached sessions have
 * no connection to be silent on; their resume window bounds them).
 */
export function findIdleSessions(sessions: Iterable<Session>, now: number, ttlMs: number) {
  const deadline = now - ttlMs;
  const idle: Session[] = [];
  for (const session of sessions) {
    if (session.lastSeenAt < deadline && session.state === "live") idle.push(session);
  }
  return idle;
}

/** Periodically closes idle sessions with close code 4000 `heartbeat timeout`. */
export class HeartbeatSweeper implements Disposable {
  readonly #target: SweepTarget;
  readonly #options: HeartbeatSweeperOptions;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  #cancel: (() => void) | undefined;

  /** Creates a stopped sweeper; call {@linkcode start}. */
  constructor(target: SweepTarget, options: HeartbeatSweeperOptions) {
    this.#target = target;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#scheduler = options.scheduler ?? realScheduler;
    options.signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** Starts sweeping every interval. */
  start(): void {
    if (this.#cancel !== undefined || this.#options.signal?.aborted) return;
    this.#cancel = this.#scheduler.every(() => this.sweep(), this.#options.intervalMs);
  }

  /**
   * Runs one sweep now; returns how many sessions it closed. Sessions silent for half the TTL
   * get a protocol ping where their transport has one (`Transport.ping`), so a client that
   * only answers pings stays alive; the sweep interval is at most half the TTL, so the ping
   * leaves before the TTL runs out.
   */
  sweep(): number {
    const started = performance.now();
    const now = this.#now();
    this.#pingQuiet(now);
    const idle = findIdleSessions(this.#target.values(), now, this.#options.ttlMs);
    let closed = 0;
    for (const session of idle) {
      if (this.#target.close(session, DisconnectHeartbeatTimeout)) closed++;
    }
    this.#options.onSweep?.(closed, performance.now() - started);
    return closed;
  }

  #pingQuiet(now: number): void {
    const ttlMs = this.#options.ttlMs;
    const quietSince = now - ttlMs / 2;
    const deadline = now - ttlMs;
    for (const session of this.#target.values()) {
      const seen = session.lastSeenAt;
      if (seen < quietSince && seen >= deadline && session.state === "live") {
        session.transport.ping?.();
      }
    }
  }

  /** Stops the timer; safe to call twice. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
