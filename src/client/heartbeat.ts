/**
 * The client's own heartbeat. The gateway closes sessions it has not heard from within its
 * TTL; browsers answer the gateway's WebSocket pings by themselves, but other stacks (and
 * WebTransport, whose keep-alives the session does not see) do not. So the client sends a
 * `ping` envelope whenever it has been silent for an interval, and also when the gateway has
 * been: if nothing at all comes back within the timeout, the connection is dead even though
 * the operating system has not noticed yet.
 *
 * @module
 */

/** Options for {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  /** How often to check for silence, in ms. */
  intervalMs: number;
  /** How long a ping may go without anything arriving before the connection is dead, in ms. */
  timeoutMs: number;
  /** Sends a ping (and reports it with {@linkcode Heartbeat.sent}). */
  ping: () => void;
  /** The connection is dead: nothing arrived within `timeoutMs` of a ping. */
  dead: () => void;
}

/** One connection's heartbeat; stop it when the connection ends. */
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #interval: ReturnType<typeof setInterval>;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #sent = false;
  #received = false;

  /** Starts checking every `intervalMs`. */
  constructor(options: HeartbeatOptions) {
    this.#options = options;
    this.#interval = setInterval(() => this.#tick(), options.intervalMs);
  }

  /** Records that the client sent something. */
  sent(): void {
    this.#sent = true;
  }

  /** Records that something arrived: the connection is alive. */
  received(): void {
    this.#received = true;
    if (this.#deadline !== undefined) {
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
  }

  /** Stops every timer; safe twice. */
  stop(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  #tick(): void {
    const quiet = !this.#sent || !this.#received;
    this.#sent = this.#received = false;
    if (!quiet) return;
    this.#options.ping();
    this.#deadline ??= setTimeout(() => {
      this.#deadline = undefined;
      this.#options.dead();
    }, this.#options.timeoutMs);
  }
}
