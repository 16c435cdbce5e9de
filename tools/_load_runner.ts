/**
 * Runs one process's share of a load test: opens connections over the ramp-up, sends a
 * message per connection every interval, times each reply, reopens sessions that end when
 * holding, and closes everything when told to stop or when every connection has sent its
 * messages.
 *
 * @module
 */
import type { ConnectOptions, Connector } from "./_client_connection.ts";
import { ConnectError, connectFailureReason } from "./_client_connection.ts";
import { emptyCounters, type LoadCounters } from "./_load_counters.ts";
import { LatencyHistogram } from "./_latency_histogram.ts";
import { ResumingConnection } from "./_resuming_connection.ts";

/** What one process runs. */
export interface LoadPlan {
  /** Where to connect; `timeoutMs` bounds each connection attempt. */
  target: Omit<ConnectOptions, "signal">;
  /** Connections this process opens. */
  connections: number;
  /** Messages each connection sends; 0 sends until stopped. */
  messagesPerConnection: number;
  /** Milliseconds between two messages of one connection. */
  intervalMs: number;
  /** Milliseconds over which connections are opened, evenly spaced. */
  rampupMs: number;
  /** Payload bytes: 0 sends `ping` envelopes, more sends `echo` requests of that size. */
  payloadBytes: number;
  /** Reopens a session whose connection ends or fails to open, until stopped (`-hold`). */
  hold?: boolean;
  /** Milliseconds before a session is reopened; doubles with each failed attempt in a row,
   * up to 16 times as long (default {@linkcode RECONNECT_DELAY_MS}). */
  reconnectDelayMs?: number;
  /** Sessions dropped and resumed per second, across this process (`-reconnect`); 0: none. */
  reconnectPerSec?: number;
  /** Opens the connections that resume (they must not log in first); default: the run's. */
  resumeConnector?: Connector;
}

/** How often the dropper of `-reconnect` wakes, ms. */
const DROP_TICK_MS = 10;

/** How long a held session waits before reopening, as a real client backs off. */
export const RECONNECT_DELAY_MS = 1_000;

/** How long a connection that finished its messages waits for replies still in flight. */
const DRAIN_MS = 3_000;

/**
 * At the stop, how long the process's sessions wait together for every reply still in flight
 * before any of them closes: closing the ones that wait for nothing at once made 100,000
 * closes compete with the last replies, which then came too late and counted as lost.
 */
const STOP_DRAIN_MS = 15_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1;
}

/** One process's load: counters and latencies fill in while {@linkcode LoadRunner.run} runs. */
export class LoadRunner {
  /** Live counts; read them at any time. */
  readonly counters: LoadCounters = emptyCounters();
  /** Round-trip times of every reply. */
  readonly latency: LatencyHistogram = new LatencyHistogram();
  readonly #plan: LoadPlan;
  readonly #connect: Connector;
  readonly #message: (id: number) => string;
  readonly #resumable: ResumingConnection[] = [];
  /** Messages sent by every session of this process and not answered yet. */
  #awaiting = 0;
  /** Resolves once, after the stop, no message awaits its reply (or STOP_DRAIN_MS passed). */
  #allAnswered: Promise<void> | undefined;

  /** Prepares a run of `plan` over `connect`. */

  constructor(plan: LoadPlan, connect: Connector) {
    this.#plan = plan;
    this.#connect = (plan.reconnectPerSec ?? 0) > 0
      ? ResumingConnection.connector(connect, plan.resumeConnector ?? connect, this.counters)
      : connect;
    const data = JSON.stringify("x".repeat(plan.payloadBytes));
    this.#message = plan.payloadBytes === 0
      ? (id) => `{"type":"ping","id":${id}}`
      : (id) => `{"type":"request","id":${id},"route":"echo","data":${data}}`;
  }

  /** Runs until every connection has sent its messages, or until `stop` aborts. */
  async run(stop: AbortSignal): Promise<void> {
    // Each session stops on a signal of its own, aborted from this one listener: a listener per
    // session on `stop` would cost every session a scan of all the others, since adding and
    // removing an event listener is linear in the listeners already there.
    const live = new Set<AbortController>();
    const onStop = () => {
      this.counters.openAtStop = this.counters.open;
      for (const session of live) session.abort();
    };
    stop.addEventListener("abort", onStop, { once: true });
    const { connections, rampupMs } = this.#plan;
    const start = performance.now();
    const sessions: Promise<void>[] = [];
    const dropper = new AbortController();
    const dropping = this.#dropper(AbortSignal.any([stop, dropper.signal]));
    try {
      for (let i = 0; i < connections && !stop.aborted; i++) {
        await sleep(start + (rampupMs * i) / connections - performance.now(), stop);
        if (stop.aborted) break;
        sessions.push(this.#slot(live));
      }
      await Promise.all(sessions);
    } finally {
      stop.removeEventListener("abort", onStop);
      dropper.abort();
      await dropping;
    }
  }

  /** `-reconnect`: drops random open sessions at the plan's rate; they resume on their own. */
  async #dropper(signal: AbortSignal): Promise<void> {
    const rate = this.#plan.reconnectPerSec ?? 0;
    if (rate <= 0) return;
    let due = 0;
    while (!signal.aborted) {
      await sleep(DROP_TICK_MS, signal);
      due += rate * DROP_TICK_MS / 1000;
      for (; due >= 1 && this.#resumable.length > 0; due--) {
        this.#resumable[Math.floor(Math.random() * this.#resumable.length)].drop();
      }
      if (this.#resumable.length === 0) due = Math.min(due, 1);
    }
  }

  /** One session of the plan: opened once, or with `hold` reopened until stopped. */
  async #slot(live: Set<AbortController>): Promise<void> {
    const stopped = new AbortController();
    live.add(stopped);
    const stop = stopped.signal;
    try {
      let failuresInRow = 0;
      let wasOpen = false;
      for (;;) {
        const opened = await this.#session(stop, wasOpen);
        if (!this.#plan.hold || stop.aborted) return;
        wasOpen ||= opened;
        failuresInRow = opened ? 0 : failuresInRow + 1;
        await sleep(this.#reconnectDelay(failuresInRow), stop);
        if (stop.aborted) return;
      }
    } finally {
      live.delete(stopped);
    }
  }

  /** See {@linkcode LoadRunner.#allAnswered}; the first session to stop starts the wait. */
  #whenAllAnswered(): Promise<void> {
    this.#allAnswered ??= (async () => {
      const deadline = performance.now() + STOP_DRAIN_MS;
      while (this.#awaiting > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    return this.#allAnswered;
  }

  #reconnectDelay(failuresInRow: number): number {
    const base = this.#plan.reconnectDelayMs ?? RECONNECT_DELAY_MS;
    const backoff = base * 2 ** Math.min(Math.max(failuresInRow - 1, 0), 4);
    // Spread out, so that sessions dropped together do not all come back in one wave.
    return backoff * (0.5 + Math.random());
  }

  /** Opens one connection and runs it to its end; returns whether it opened. `reopening`: the
   * session has been open before, so opening counts as a reconnect. */
  async #session(stop: AbortSignal, reopening: boolean): Promise<boolean> {
    const c = this.counters;
    c.attempted++;
    let connection;
    try {
      connection = await this.#connect({ ...this.#plan.target, signal: stop });
    } catch (error) {
      if (stop.aborted) {
        c.attempted--;
        return false;
      }
      c.failed++;
      bump(c.failures, error instanceof ConnectError ? error.reason : connectFailureReason(error));
      return false;
    }
    c.established++;
    if (connection instanceof ResumingConnection) this.#resumable.push(connection);
    if (reopening) c.reconnects++;
    c.open++;
    c.peakOpen = Math.max(c.peakOpen, c.open);
    const inFlight = new Map<number, number>();
    /** `-reconnect`: the drop count each message in flight was sent after. */
    const sentOn = connection instanceof ResumingConnection ? new Map<number, number>() : undefined;
    // Resolved when the last reply in flight arrives, once the session has stopped sending.
    let drained: PromiseWithResolvers<void> | undefined;
    connection.onMessage = (text) => {
      const now = performance.now();
      let reply: { id?: unknown; type?: unknown; code?: unknown };
      try {
        reply = JSON.parse(text);
      } catch {
        bump(c.errorReplies, "unparsable_reply");
        return;
      }
      if (reply.type === "ping") {
        // The gateway measuring this idle session's round trip: answer as the SDK does.
        if (Number.isSafeInteger(reply.id)) {
          connection.send(`{"type":"pong","id":${reply.id}}`).catch(() => {});
        }
        return;
      }
      if (reply.type === "error") bump(c.errorReplies, String(reply.code));
      const sentAt = typeof reply.id === "number" ? inFlight.get(reply.id) : undefined;
      if (sentAt === undefined) return;
      inFlight.delete(reply.id as number);
      this.#awaiting--;
      sentOn?.delete(reply.id as number);
      c.received++;
      this.latency.record(now - sentAt);
      if (inFlight.size === 0) drained?.resolve();
    };
    if (connection instanceof ResumingConnection && sentOn !== undefined) {
      // What went into a dropped connection and is unanswered after the replay never reached
      // the gateway (a QUIC close discards unread stream data): send it again.
      connection.onResumed = (generation) => {
        for (const [id, on] of sentOn) {
          if (on < generation) {
            sentOn.set(id, generation);
            c.resent++;
            connection.send(this.#message(id)).catch(() => {});
          }
        }
      };
    }
    let ended = false;
    const ending = connection.closed.then((info) => {
      ended = true;
      drained?.resolve();
      if (info.byClient) return;
      bump(c.serverCloses, `${info.code} ${info.reason || "(no reason)"}`);
      if (info.code === 4000) c.heartbeatCloses++;
    });
    const wake = new AbortController();
    const onStop = () => wake.abort();
    stop.addEventListener("abort", onStop, { once: true });
    void ending.then(() => wake.abort());
    try {
      const { messagesPerConnection: limit, intervalMs } = this.#plan;
      for (let id = 1; (limit === 0 || id <= limit) && !wake.signal.aborted; id++) {
        inFlight.set(id, performance.now());
        this.#awaiting++;
        if (sentOn !== undefined) sentOn.set(id, (connection as ResumingConnection).generation);
        try {
          await connection.send(this.#message(id));
        } catch (error) {
          inFlight.delete(id); // never sent, so never lost
          this.#awaiting--;
          throw error;
        }
        c.sent++;
        if (limit !== 0 && id === limit) break;
        await sleep(intervalMs, wake.signal);
      }
      if (!ended && stop.aborted) {
        await this.#whenAllAnswered();
      } else if (!ended && inFlight.size > 0) {
        drained = Promise.withResolvers<void>();
        const drainTimer = new AbortController();
        await Promise.race([drained.promise, sleep(DRAIN_MS, drainTimer.signal)]);
        drainTimer.abort();
      }
    } catch {
      // send() rejects once the connection is gone; `ending` records why.
    } finally {
      stop.removeEventListener("abort", onStop);
      c.lost += inFlight.size;
      this.#awaiting -= inFlight.size;
      inFlight.clear();
      const at = this.#resumable.indexOf(connection as ResumingConnection);
      if (at >= 0) this.#resumable.splice(at, 1);
      await connection.close();
      await ending;
      c.open--;
    }
    return true;
  }
}
