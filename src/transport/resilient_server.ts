/**
 * `Deno.serve` that comes back after its accept loop dies.
 *
 * When the process runs out of file descriptors (`EMFILE`), Deno's accept loop ends for good
 * and `server.finished` rejects; left alone that rejection kills the process and the port
 * stays closed. This wrapper catches it, keeps every open connection (upgraded WebSockets
 * live on independently of the accept loop), and binds the same port again with exponential
 * backoff until descriptors are free.
 *
 * @module
 */
import type { Logger } from "../core/logger.ts";

/** The listener could not bind at start-up (port in use, bad host, no permission). */
export class ListenError extends Error {
  /** Creates a listen error for `name` on `hostname:port`. */
  constructor(name: string, hostname: string, port: number, options?: ErrorOptions) {
    const why = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(`Cannot listen for ${name} on ${hostname}:${port}: ${why}`, options);
    this.name = "ListenError";
  }
}

/** Options for {@linkcode ResilientServer}. */
export interface ResilientServerOptions {
  /** Listener name for logs and metrics (`websocket`, `metrics`). */
  name: string;
  /** Address to bind. */
  hostname: string;
  /** Port to bind; 0 picks one, and restarts reuse the one picked. */
  port: number;
  /** The request handler. */
  handler: Deno.ServeHandler<Deno.NetAddr>;
  /** Where failures and restarts are logged. */
  logger: Logger;
  /** Called when the accept loop dies. */
  onFailed?: (name: string, error: unknown) => void;
  /** Called when the listener is back. */
  onRestarted?: (name: string) => void;
  /** First retry delay in ms; doubles up to `retryMaxMs`. */
  retryMinMs?: number;
  /** Longest retry delay in ms. */
  retryMaxMs?: number;
  /** Share the port with other processes (`SO_REUSEPORT`). */
  reusePort?: boolean;
}

/** An HTTP listener that restarts itself after accept-loop failures. */
export class ResilientServer implements AsyncDisposable {
  readonly #options: ResilientServerOptions;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #abort: AbortController | undefined;
  #addr: Deno.NetAddr;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryMs: number;
  #boundAt = 0;
  #closed = false;

  /**
   * Binds and starts serving.
   *
   * @throws {ListenError} when the first bind fails.
   */
  constructor(options: ResilientServerOptions) {
    this.#options = options;
    this.#retryMinMs = options.retryMinMs ?? 100;
    this.#retryMaxMs = options.retryMaxMs ?? 5_000;
    this.#retryMs = this.#retryMinMs;
    try {
      this.#addr = this.#bind(options.port);
    } catch (error) {
      throw new ListenError(options.name, options.hostname, options.port, { cause: error });
    }
  }

  /** The bound address (the real port when 0 was asked for). */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Whether the accept loop is running now. */
  get listening(): boolean {
    return this.#server !== undefined;
  }

  #bind(port: number): Deno.NetAddr {
    const abort = new AbortController();
    const server = Deno.serve({
      hostname: this.#options.hostname,
      port,
      reusePort: this.#options.reusePort,
      signal: abort.signal,
      onListen: () => {},
      onError: (error) => {
        this.#options.logger.error("request handler failed", {
          listener: this.#options.name,
          error,
        });
        return new Response("Internal Server Error\n", { status: 500 });
      },
    }, this.#options.handler);
    this.#server = server;
    this.#abort = abort;
    this.#boundAt = performance.now();
    server.finished.then(
      () => this.#ended(server, undefined),
      (error) => this.#ended(server, error),
    );
    return server.addr;
  }

  #ended(server: Deno.HttpServer<Deno.NetAddr>, error: unknown): void {
    if (this.#server !== server) return;
    this.#server = undefined;
    this.#abort = undefined;
    if (this.#closed) return;
    // A listener that served for a while earns a fast retry; one that died at once backs off.
    const servedMs = performance.now() - this.#boundAt;
    this.#retryMs = servedMs > this.#retryMaxMs
      ? this.#retryMinMs
      : Math.min(this.#retryMs * 2, this.#retryMaxMs);
    this.#options.logger.error("listener stopped accepting; will retry", {
      listener: this.#options.name,
      error: error ?? "accept loop ended",
      retry_ms: this.#retryMs,
    });
    this.#options.onFailed?.(this.#options.name, error);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed) return;
      try {
        this.#bind(this.#addr.port);
      } catch (error) {
        this.#retryMs = Math.min(this.#retryMs * 2, this.#retryMaxMs);
        this.#options.logger.warn("listener restart failed; will retry", {
          listener: this.#options.name,
          error,
          retry_ms: this.#retryMs,
        });
        this.#scheduleRetry();
        return;
      }
      this.#options.logger.info("listener restarted", {
        listener: this.#options.name,
        port: this.#addr.port,
      });
      this.#options.onRestarted?.(this.#options.name);
    }, this.#retryMs);
  }

  /** Stops accepting and closes the listener; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const server = this.#server;
    if (!server) return;
    this.#abort?.abort();
    await server.finished.catch(() => {});
  }

  /** Closes the listener. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
