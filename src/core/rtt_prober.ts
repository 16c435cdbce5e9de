/**
 * Measures each session's round-trip time without costing the message path anything.
 *
 * One timer walks the live sessions with two cursors, a slice per tick, so every session is
 * visited twice per interval and the work is spread evenly over it rather than bunched into one
 * pass. The first cursor notes how many messages the session has been sent (`messagesOut`, a
 * counter the writer keeps anyway); the second follows `idleMs` behind and probes the session
 * if that count has not changed since: nothing was sent to it for `idleMs`. A busy session
 * costs two reads per interval, and a message costs nothing at all. The idle time is short
 * next to the interval so that clients with a heartbeat of their own (the SDK pings every 20
 * s, and the gateway's answer is traffic too) are idle at most visits.
 *
 * A probe is the transport's own ping where it has one (`Transport.ping`, which reports the
 * answer through `Gateway.pong`), else the application ping `{"type":"ping","id":<n>}` that
 * clients speaking the protocol answer with `{"type":"pong","id":<n>}` (the gateway matches
 * it in its pipeline). An unanswered probe is no fault: the next one replaces it.
 *
 * @module
 */
import { realScheduler, type Scheduler } from "./heartbeat_sweeper.ts";
import type { Session } from "./session.ts";
import type { SessionWriter } from "./session_writer.ts";

/** What the prober needs from the session registry. */
export interface ProbeTarget {
  /** Live sessions; an iterator that skips sessions closed meanwhile (a `Map`'s does). */
  values(): Iterator<Session>;
  /** How many sessions are live. */
  readonly size: number;
}

/** Options for {@linkcode RttProber}. */
export interface RttProberOptions {
  /** Each session is visited once per interval, ms. */
  intervalMs: number;
  /** A session is probed only if nothing was sent to it for this long, ms; below `intervalMs`. */
  idleMs: number;
  /**
   * How often the timer runs, ms; each tick visits its share of the sessions. Default 200: at
   * 19,000 sessions and a 30 s interval, about 130 visits per tick.
   */
  tickMs?: number;
  /** Monotonic clock in ms for the rounds; `performance.now` unless a test drives it. */
  now?: () => number;
  /** Timer source. */
  scheduler?: Scheduler;
  /** Stops the prober when aborted. */
  signal?: AbortSignal;
}

/** One pass over the sessions. */
interface Round {
  iterator: Iterator<Session> | undefined;
  startedAt: number;
  /** Rounds begun since start. */
  count: number;
}

/** Walks the sessions and probes the idle ones; see the module doc. */
export class RttProber implements Disposable {
  readonly #sessions: ProbeTarget;
  readonly #writer: SessionWriter;
  readonly #intervalMs: number;
  readonly #idleMs: number;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #scheduler: Scheduler;
  readonly #signal: AbortSignal | undefined;
  readonly #marking: Round = { iterator: undefined, startedAt: -Infinity, count: 0 };
  readonly #probing: Round = { iterator: undefined, startedAt: -Infinity, count: 0 };
  #nextId = 1;
  #cancel: (() => void) | undefined;
  /** Probes sent since start. */
  probesSent = 0;

  /**
   * Creates a stopped prober; call {@linkcode start}.
   *
   * @throws {RangeError} when `idleMs` is not below `intervalMs`.
   */
  constructor(sessions: ProbeTarget, writer: SessionWriter, options: RttProberOptions) {
    if (!(options.idleMs < options.intervalMs)) {
      throw new RangeError(
        `RTT probe idle time ${options.idleMs} ms must be below its interval ${options.intervalMs} ms`,
      );
    }
    this.#sessions = sessions;
    this.#writer = writer;
    this.#intervalMs = options.intervalMs;
    this.#idleMs = options.idleMs;
    this.#tickMs = options.tickMs ?? 200;
    this.#now = options.now ?? (() => performance.now());
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#signal = options.signal;
    options.signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** Starts the timer. */
  start(): void {
    if (this.#cancel !== undefined || this.#signal?.aborted) return;
    this.#cancel = this.#scheduler.every(() => this.tick(), this.#tickMs);
  }

  /**
   * Advances both cursors by the share of sessions that makes a round take one interval: the
   * marking cursor starts a round once per interval, the probing one `idleMs` after it. Returns
   * how many probes went out.
   */
  tick(): number {
    const now = this.#now();
    const budget = Math.ceil(this.#sessions.size * this.#tickMs / this.#intervalMs);
    // Half a tick of slack: timers fire a little early or late.
    const slack = this.#tickMs / 2;
    const marking = this.#marking;
    this.#walk(marking, budget, () => now - marking.startedAt >= this.#intervalMs - slack, now, (
      session,
    ) => {
      session.rttProbeMark = session.messagesOut;
      return false;
    });
    const probed = this.#walk(
      this.#probing,
      budget,
      () => this.#probing.count < marking.count && now - marking.startedAt >= this.#idleMs - slack,
      now,
      (session) => this.#probe(session),
    );
    this.probesSent += probed;
    return probed;
  }

  /** Visits up to `budget` sessions of `round`, starting a new one when `mayStart` says so. */
  #walk(
    round: Round,
    budget: number,
    mayStart: () => boolean,
    now: number,
    visit: (session: Session) => boolean,
  ): number {
    let probed = 0;
    while (budget > 0) {
      if (round.iterator === undefined) {
        if (!mayStart()) break;
        round.iterator = this.#sessions.values();
        round.startedAt = now;
        round.count++;
      }
      const next = round.iterator.next();
      if (next.done) {
        round.iterator = undefined;
        continue;
      }
      budget--;
      if (visit(next.value)) probed++;
    }
    return probed;
  }

  /** Probes `session` if nothing was sent to it since the marking cursor passed. */
  #probe(session: Session): boolean {
    if (session.rttProbeMark !== session.messagesOut || session.state !== "live") return false;
    const transport = session.transport;
    if (transport.ping !== undefined) return transport.ping();
    const id = this.#nextId++;
    const sentAt = performance.now();
    if (!this.#writer.writeControl(session, `{"type":"ping","id":${id}}`)) return false;
    session.rttProbeId = id;
    session.rttProbeSentAt = sentAt;
    return true;
  }

  /** Stops the timer; safe to call twice. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#marking.iterator = undefined;
    this.#probing.iterator = undefined;
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
