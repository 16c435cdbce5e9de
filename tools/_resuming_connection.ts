/**
 * A client connection that can lose its socket and resume its session (docs/protocol.md,
 * "Resume"), for `load_test -reconnect`: it learns its resume token (`hello`), and on `drop()`
 * drops its connection without a close (WebSocket; QUIC closes with 4000, as a client that gave
 * up on a dead link would), opens a new one, resumes
 * with the last `seq` it saw and carries on, so the messages in flight are answered from the
 * gateway's replay. It drops envelopes whose `seq` it has seen (counting them as duplicates)
 * and counts the ones it never saw (gaps); both must stay 0. Once a replay is complete it tells
 * its user (`onResumed`), who may send again what the gateway never received.
 *
 * @module
 */
import {
  type ClientConnection,
  type CloseInfo,
  ConnectError,
  type ConnectOptions,
  type Connector,
} from "./_client_connection.ts";

/** What a resuming connection counts (into the load test's counters). */
export interface ResumeCounts {
  /** Resumes that succeeded. */
  resumes: number;
  /** Resumes that failed, per reason (`resume_failed` reasons, `connect`, `timeout`). */
  resumeFailures: Record<string, number>;
  /** Messages replayed by resumes. */
  replayed: number;
  /** Envelopes received again with a `seq` already seen. */
  duplicates: number;
  /** `seq` numbers skipped: messages that never arrived. */
  seqGaps: number;
  /** Sum of resume times, ms: from closing the old connection to the last replayed message. */
  resumeMsTotal: number;
  /** Longest resume time, ms. */
  resumeMsMax: number;
}

/** The id of the handshake envelopes (`hello`, `resume`); load-test requests start at 1. */
const HANDSHAKE_ID = 0;

interface Envelope {
  type?: unknown;
  id?: unknown;
  seq?: unknown;
  code?: unknown;
  reason?: unknown;
  data?: { resume_token?: unknown; replayed?: unknown };
}

/** A {@linkcode ClientConnection} that can {@linkcode ResumingConnection.drop} and resume. */
export class ResumingConnection implements ClientConnection {
  /** Called for every envelope received, once (duplicates are dropped). */
  onMessage: ((text: string) => void) | undefined;
  /**
   * Called when a resume's replay is complete: whatever was sent before drop number
   * `generation` and is still unanswered never reached the gateway.
   */
  onResumed: ((generation: number) => void) | undefined;
  /** Resolves once the session has ended (a close, or a resume that failed). */
  readonly closed: Promise<CloseInfo>;
  readonly #reconnect: Connector;
  readonly #options: ConnectOptions;
  readonly #counts: ResumeCounts;
  readonly #ended = Promise.withResolvers<CloseInfo>();
  #current: ClientConnection;
  #token: string | undefined;
  #lastSeq = 0;
  #answer: PromiseWithResolvers<Envelope> | undefined;
  #swapping: Promise<void> | undefined;
  /** After a resume: replayed messages still to come, and when the resume started. */
  #replay: { left: number; startedAt: number } | undefined;
  #closing = false;
  #generation = 0;

  private constructor(
    current: ClientConnection,
    reconnect: Connector,
    options: ConnectOptions,
    counts: ResumeCounts,
  ) {
    this.#current = current;
    this.#reconnect = reconnect;
    this.#options = options;
    this.#counts = counts;
    this.closed = this.#ended.promise;
    this.#attach(current);
  }

  /**
   * A connector whose connections resume: `connect` opens the first one (it may log in),
   * `reconnect` the ones that resume (a resume must come first, before any login).
   */
  static connector(connect: Connector, reconnect: Connector, counts: ResumeCounts): Connector {
    return async (options) => {
      const connection = await connect(options);
      const resuming = new ResumingConnection(connection, reconnect, options, counts);
      try {
        const hello = await resuming.#handshake({ type: "hello", id: HANDSHAKE_ID });
        if (hello.type !== "response" || typeof hello.data?.resume_token !== "string") {
          throw new ConnectError("no_resume", "The gateway does not resume sessions (hello)");
        }
        resuming.#token = hello.data.resume_token;
      } catch (error) {
        await resuming.close();
        throw error instanceof ConnectError
          ? error
          : new ConnectError("hello_failed", String(error), { cause: error });
      }
      return resuming;
    };
  }

  /** How many times the connection was dropped: sends since then belong to this number. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Sends one envelope, on the new connection if a resume is under way; one that meets a drop
   * is not sent (see `onResumed`).
   */
  async send(text: string): Promise<void> {
    await this.#swapping;
    try {
      await this.#current.send(text);
    } catch (error) {
      // Into a connection being dropped: the caller sends it again after the replay.
      if (this.#swapping === undefined || this.#closing) throw error;
    }
  }

  /** Loses the connection and resumes on a new one; a no-op while one is under way. */
  drop(): void {
    if (this.#swapping !== undefined || this.#closing) return;
    this.#generation++;
    this.#swapping = this.#resume().finally(() => this.#swapping = undefined);
  }

  /** Ends the session with `code` (default 1000). */
  async close(code = 1000, reason = ""): Promise<void> {
    this.#closing = true;
    await this.#swapping?.catch(() => {});
    await this.#current.close(code, reason);
    this.#ended.resolve({ code, reason, byClient: true });
  }

  /** Closes the session. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #attach(connection: ClientConnection): void {
    connection.onMessage = (text) => this.#receive(text);
    void connection.closed.then((info) => {
      // Its own drops and closes are not the end of the session.
      if (connection === this.#current && this.#swapping === undefined && !this.#closing) {
        this.#ended.resolve(info);
      }
    });
  }

  #receive(text: string): void {
    let envelope: Envelope;
    try {
      envelope = JSON.parse(text);
    } catch {
      this.onMessage?.(text);
      return;
    }
    if (envelope.id === HANDSHAKE_ID && this.#answer !== undefined) {
      this.#answer.resolve(envelope);
      return;
    }
    if (typeof envelope.seq === "number") {
      if (envelope.seq <= this.#lastSeq) {
        this.#counts.duplicates++;
        return;
      }
      this.#counts.seqGaps += envelope.seq - this.#lastSeq - 1;
      this.#lastSeq = envelope.seq;
      if (this.#replay !== undefined && --this.#replay.left <= 0) this.#replayed();
    }
    this.onMessage?.(text);
  }

  #replayed(): void {
    const ms = performance.now() - this.#replay!.startedAt;
    this.#replay = undefined;
    this.#counts.resumeMsTotal += ms;
    this.#counts.resumeMsMax = Math.max(this.#counts.resumeMsMax, ms);
    this.onResumed?.(this.#generation);
  }

  async #handshake(envelope: Record<string, unknown>): Promise<Envelope> {
    this.#answer = Promise.withResolvers();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await this.#current.send(JSON.stringify(envelope));
      const answer = await Promise.race([
        this.#answer.promise,
        this.#current.closed.then(() => ({ type: "closed" })),
        new Promise<Envelope>((resolve) => {
          timer = setTimeout(() => resolve({ type: "timeout" }), this.#options.timeoutMs);
        }),
      ]);
      return answer;
    } finally {
      clearTimeout(timer);
      this.#answer = undefined;
    }
  }

  async #resume(): Promise<void> {
    const startedAt = performance.now();
    const old = this.#current;
    // As a dead link would; else as a client that gave up on one: 4000, not a goodbye.
    if (old.abort) await old.abort();
    else await old.close(4000, "load test drop");
    let next: ClientConnection;
    try {
      // Not cut short when the run stops: what is in flight is answered by the replay.
      next = await this.#reconnect({ ...this.#options, signal: undefined });
    } catch {
      return this.#failed("connect", { code: 1006, reason: "reconnect failed", byClient: true });
    }
    this.#current = next;
    this.#attach(next);
    const answer = await this.#handshake({
      type: "resume",
      id: HANDSHAKE_ID,
      data: { token: this.#token, last_seq: this.#lastSeq },
    });
    if (answer.type !== "response" || typeof answer.data?.resume_token !== "string") {
      const reason = answer.type === "error" ? String(answer.reason ?? answer.code) : answer.type;
      await next.close();
      return this.#failed(String(reason), { code: 1000, reason: "resume failed", byClient: true });
    }
    this.#token = answer.data.resume_token;
    this.#counts.resumes++;
    const replayed = typeof answer.data.replayed === "number" ? answer.data.replayed : 0;
    this.#counts.replayed += replayed;
    this.#replay = { left: replayed, startedAt };
    if (replayed === 0) this.#replayed();
  }

  #failed(reason: string, info: CloseInfo): void {
    this.#counts.resumeFailures[reason] = (this.#counts.resumeFailures[reason] ?? 0) + 1;
    this.#ended.resolve(info);
  }
}
