/**
 * Measures each session's round-trip time without costing the message path anything.
 *
 * One timer walks the live sessions a slice per tick, so every session is visited once per
 * interval and the work is spread evenly over it rather than bunched into one pass. A session
 * is probed only when nothing was sent to it since the previous visit: a busy session costs one
 * comparison per interval, and a message costs nothing at all, since idleness is read from the
 * `messagesOut` counter the writer keeps anyway.
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
  /** How often the timer runs, ms; each tick visits its share of the sessions. Default 1000. */
  tickMs?: number;
  /** Timer source. */
  scheduler?: Scheduler;
  /** Stops the prober when aborted. */
  signal?: AbortSignal;
}

/** Walks the sessions and probes the idle ones; see the module doc. */
export class RttProber implements Disposable {
  readonly #sessions: ProbeTarget;
  readonly #writer: SessionWriter;
  readonly #intervalMs: number;
  readonly #tickMs: number;
  readonly #scheduler: Scheduler;
  readonly #signal: AbortSignal | undefined;
  #round: Iterator<Session> | undefined;
  #roundStartedAt = -Infinity;
  #nextId = 1;
  #cancel: (() => void) | undefined;
  /** Probes sent since start. */
  probesSent = 0;

  /** Creates a stopped prober; call {@linkcode start}. */
  constructor(sessions: ProbeTarget, writer: SessionWriter, options: RttProberOptions) {
    this.#sessions = sessions;
    this.#writer = writer;
    this.#intervalMs = options.intervalMs;
    this.#tickMs = options.tickMs ?? 1_000;
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
   * Visits the next slice of sessions: enough that a round over all of them takes one interval.
   * A new round starts at most once per interval. Returns how many probes went out.
   */
  tick(): number {
    const now = performance.now();
    let budget = Math.ceil(this.#sessions.size * this.#tickMs / this.#intervalMs);
    let probed = 0;
    while (budget > 0) {
      if (this.#round === undefined) {
        // Half a tick of slack: timers fire a little early or late.
        if (now - this.#roundStartedAt < this.#intervalMs - this.#tickMs / 2) break;
        this.#round = this.#sessions.values();
        this.#roundStartedAt = now;
      }
      const next = this.#round.next();
      if (next.done) {
        this.#round = undefined;
        continue;
      }
      budget--;
      if (this.#visit(next.value)) probed++;
    }
    this.probesSent += probed;
    return probed;
  }

  /** Probes `session` if nothing was sent to it since the previous visit. */
  #visit(session: Session): boolean {
    const idle = session.rttProbeMark === session.messagesOut && session.state === "live";
    let probed = false;
    if (idle) {
      const transport = session.transport;
      if (transport.ping !== undefined) {
        probed = transport.ping();
      } else {
        const id = this.#nextId++;
        const sentAt = performance.now();
        if (this.#writer.write(session, `{"type":"ping","id":${id}}`)) {
          session.rttProbeId = id;
          session.rttProbeSentAt = sentAt;
          probed = true;
        }
      }
    }
    session.rttProbeMark = session.messagesOut;
    return probed;
  }

  /** Stops the timer; safe to call twice. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#round = undefined;
  }

  /** Stops the timer. */
  [Symbol.dispose](): void {
    this.stop();
  }
}
