/**
 * The WebSocket listener: accepts TCP connections on `Deno.listen`, reads and checks each
 * opening handshake under a deadline, lets the owner decide (path, origin, capacity,
 * draining), and hands upgraded connections to it as {@linkcode WebSocketConnection}s.
 *
 * The accept loop survives `EMFILE` (out of file descriptors): it backs off and retries
 * instead of ending, and upgraded connections live on independently of it.
 *
 * @module
 */
import {
  checkConnectionOptions,
  Connection,
  type ConnectionEvents,
  type ConnectionOptions,
  DEFAULT_READ_BUFFER_BYTES,
  type WebSocketConnection,
} from "./connection.ts";
import { CLOSE_GOING_AWAY } from "./close_code.ts";
import {
  checkUpgrade,
  encodeRefusal,
  encodeSwitchingProtocols,
  type HandshakeRefusal,
  isRefusal,
} from "./handshake.ts";
import {
  DEFAULT_MAX_HEAD_BYTES,
  type RequestHead,
  RequestHeadError,
  RequestHeadParser,
} from "./request_head.ts";
import { DescriptorBudget, type DescriptorCounter } from "./descriptor_budget.ts";

/** An upgrade request, as the owner sees it when it decides. */
export interface UpgradeRequest {
  /** Path and query as sent, e.g. `/ws?room=1`. */
  readonly path: string;
  /** Header fields by lower-cased name. */
  readonly headers: ReadonlyMap<string, string>;
  /** Subprotocols the client offered, in its order of preference. */
  readonly protocols: readonly string[];
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
}

/** The owner's answer: accept (with one of the offered subprotocols) or refuse. */
export type UpgradeDecision =
  | { readonly accept: true; readonly protocol?: string }
  | {
    readonly accept?: false;
    /** HTTP status, 400–599. */
    readonly status: number;
    /** Plain text for the client. */
    readonly body: string;
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers?: Readonly<Record<string, string>>;
  };

/** Decides whether an upgrade request that passed RFC 6455's checks may proceed. */
export type UpgradeHandler = (request: UpgradeRequest) => UpgradeDecision;

/**
 * Looks at a request head before RFC 6455's checks (e.g. to answer 404 off the path whatever
 * the request is); returns a refusal, or undefined to go on.
 */
export type ScreenHandler = (head: RequestHead) => HandshakeRefusal | undefined;

/**
 * Takes an accepted connection and returns the object that receives its events. Called
 * right after the 101 response is queued; count the connection here, not in the decision.
 */
export type OpenHandler = (
  connection: WebSocketConnection,
  request: UpgradeRequest,
) => ConnectionEvents;

/** Options for {@linkcode WebSocketServer}. */
export interface WebSocketServerOptions {
  /** Address to bind. Default `0.0.0.0`. */
  hostname?: string;
  /** Port to bind; 0 picks one. Default 0. */
  port?: number;
  /** Share the port with other processes (`SO_REUSEPORT`). */
  reusePort?: boolean;
  /** Decides each upgrade. */
  upgrade: UpgradeHandler;
  /** Looks at each request head first; see {@linkcode ScreenHandler}. */
  screen?: ScreenHandler;
  /** Told about each request RFC 6455's checks refused (after `screen` let it through). */
  onRefused?: (refusal: HandshakeRefusal) => void;
  /** Receives each upgraded connection. */
  open: OpenHandler;
  /**
   * Time from accept to a complete upgrade; past it the TCP connection is closed whatever it
   * sent, so silent sockets and slowloris heads cannot hold descriptors. Default 10,000 ms.
   */
  handshakeTimeoutMs?: number;
  /** Largest request head in bytes; larger gets 431. Default 8 KiB. */
  maxHeadBytes?: number;
  /**
   * TCP connections still in their handshake at once; past it new ones are closed at once,
   * so a flood of unfinished handshakes cannot take every descriptor. Default 1,024.
   */
  maxPendingHandshakes?: number;
  /** Options of every upgraded connection. */
  connection?: Omit<ConnectionOptions, "protocol">;
  /** Called with accept-loop failures (each retry) and handler exceptions, for logging. */
  onError?: (error: unknown) => void;
  /** Called when a handshake did not finish in `handshakeTimeoutMs` (and was closed). */
  onHandshakeTimeout?: () => void;
  /** Called when accepting fails (e.g. `EMFILE`) after it worked; the loop backs off. */
  onAcceptFailed?: (error: unknown) => void;
  /** Called when a connection is accepted again after `onAcceptFailed`. */
  onAcceptResumed?: () => void;
  /**
   * File descriptors to keep free below the soft open-files limit: the accept loop pauses
   * while fewer would remain (connections wait in the kernel's backlog) and resumes when some
   * are freed, so the process keeps descriptors for its other work. Needs `descriptors`.
   * Default 0 (off).
   */
  fdReserve?: number;
  /** Counts the process's descriptors, for `fdReserve`. */
  descriptors?: DescriptorCounter;
  /** Called when the accept loop pauses for `fdReserve` (true) and when it resumes (false). */
  onReserveReached?: (reached: boolean) => void;
  /** First retry delay after an accept failure in ms; doubles up to `retryMaxMs`. */
  retryMinMs?: number;
  /** Longest retry delay in ms. */
  retryMaxMs?: number;
  /** Closes the server when aborted. */
  signal?: AbortSignal;
}

/** Default {@linkcode WebSocketServerOptions.handshakeTimeoutMs}. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default {@linkcode WebSocketServerOptions.maxPendingHandshakes}. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 1_024;
/** How often a paused accept loop looks whether descriptors were freed, in ms. */
const RESERVE_POLL_MS = 50;

/** Live connections, and a promise for when there are none. */
class ConnectionSet {
  readonly #connections = new Set<Connection>();
  #empty: PromiseWithResolvers<void> | undefined;
  /** Called after each delete. */
  onDelete: (() => void) | undefined;

  get size(): number {
    return this.#connections.size;
  }

  add(connection: Connection): void {
    this.#connections.add(connection);
  }

  delete(connection: Connection): void {
    if (this.#connections.delete(connection)) this.onDelete?.();
    if (this.#connections.size === 0) this.#empty?.resolve();
  }

  values(): Connection[] {
    return [...this.#connections];
  }

  whenEmpty(): Promise<void> {
    if (this.#connections.size === 0) return Promise.resolve();
    this.#empty ??= Promise.withResolvers<void>();
    return this.#empty.promise;
  }
}

/** A WebSocket server on its own TCP listener; see the module doc. */
export class WebSocketServer implements AsyncDisposable {
  readonly #options: WebSocketServerOptions;
  readonly #listener: Deno.TcpListener;
  readonly #addr: Deno.NetAddr;
  readonly #handshakeTimeoutMs: number;
  readonly #maxHeadBytes: number;
  readonly #maxPendingHandshakes: number;
  readonly #readBufferBytes: number;
  readonly #retryMinMs: number;
  readonly #retryMaxMs: number;
  readonly #pending = new Set<Deno.TcpConn>();
  readonly #connections = new ConnectionSet();
  readonly #acceptLoopDone: Promise<void>;
  #handshakesDone: PromiseWithResolvers<void> | undefined;
  #retryMs: number;
  #retry: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  #closing: Promise<void> | undefined;
  #refusedOverCapacity = 0;
  #handshakeTimeouts = 0;
  #handshakesRefused = 0;
  readonly #budget: DescriptorBudget;
  #acceptFailed = false;
  #reserveReached = false;

  /**
   * Binds and starts accepting.
   *
   * @throws {Deno.errors.AddrInUse} and other `Deno.listen` errors when the bind fails.
   * @throws {RangeError} when an option is out of range.
   */
  constructor(options: WebSocketServerOptions) {
    this.#options = options;
    this.#handshakeTimeoutMs = positive(
      "handshakeTimeoutMs",
      options.handshakeTimeoutMs,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
    );
    this.#maxHeadBytes = options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES;
    new RequestHeadParser({ maxHeadBytes: this.#maxHeadBytes }); // validates the option
    checkConnectionOptions(options.connection ?? {});
    this.#maxPendingHandshakes = positive(
      "maxPendingHandshakes",
      options.maxPendingHandshakes,
      DEFAULT_MAX_PENDING_HANDSHAKES,
    );
    this.#readBufferBytes = options.connection?.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES;
    this.#retryMinMs = positive("retryMinMs", options.retryMinMs, 100);
    this.#retryMaxMs = positive("retryMaxMs", options.retryMaxMs, 5_000);
    this.#retryMs = this.#retryMinMs;
    this.#budget = new DescriptorBudget({
      reserve: options.fdReserve ?? 0,
      counter: options.descriptors,
    });
    this.#connections.onDelete = this.#descriptorFreed;
    this.#listener = Deno.listen({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 0,
      reusePort: options.reusePort,
    });
    this.#addr = this.#listener.addr;
    this.#acceptLoopDone = this.#acceptLoop();
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** The bound address (the real port when 0 was asked for). */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** Upgraded connections not yet closed. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Whether new TCP connections are accepted now: false while backing off after an accept
   * failure, while the descriptor reserve is reached, and once closing.
   */
  get accepting(): boolean {
    return this.#closing === undefined && !this.#acceptFailed && !this.#reserveReached;
  }

  /** TCP connections still in their opening handshake. */
  get pendingHandshakes(): number {
    return this.#pending.size;
  }

  /** TCP connections closed at once because `maxPendingHandshakes` were in progress. */
  get refusedOverCapacity(): number {
    return this.#refusedOverCapacity;
  }

  /** TCP connections closed because their handshake did not finish in `handshakeTimeoutMs`. */
  get handshakeTimeouts(): number {
    return this.#handshakeTimeouts;
  }

  /**
   * Requests refused before the owner was asked: malformed (400), too large (431), or not a
   * WebSocket upgrade RFC 6455 allows (405, 426, 400).
   */
  get handshakesRefused(): number {
    return this.#handshakesRefused;
  }

  async #acceptLoop(): Promise<void> {
    while (this.#closing === undefined) {
      if (!this.#budget.allows()) {
        // Leave the connection in the backlog until descriptors are freed.
        if (!this.#reserveReached) this.#options.onReserveReached?.(true);
        this.#reserveReached = true;
        await this.#pause(RESERVE_POLL_MS);
        continue;
      }
      if (this.#reserveReached) this.#options.onReserveReached?.(false);
      this.#reserveReached = false;
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== undefined) return;
        // EMFILE and friends: the listener is fine, the process is not, for now. Retrying at
        // once would spin (the pending connection stays in the backlog), so back off.
        this.#options.onError?.(error);
        if (!this.#acceptFailed) this.#options.onAcceptFailed?.(error);
        this.#acceptFailed = true;
        await this.#backOff();
        continue;
      }
      this.#retryMs = this.#retryMinMs;
      if (this.#acceptFailed) {
        this.#acceptFailed = false;
        this.#options.onAcceptResumed?.();
      }
      if (this.#pending.size >= this.#maxPendingHandshakes) {
        this.#refusedOverCapacity++;
        conn.close();
        continue;
      }
      this.#budget.opened();
      this.#handshake(conn);
    }
  }

  #backOff(): Promise<void> {
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, this.#retryMaxMs);
    return this.#pause(delay);
  }

  /** Waits `delay` ms, or until `close` wakes it. */
  #pause(delay: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(this.#retry?.timer);
        this.#retry = undefined;
        resolve();
      };
      this.#retry = { timer: setTimeout(wake, delay), wake };
    });
  }

  async #handshake(conn: Deno.TcpConn): Promise<void> {
    this.#pending.add(conn);
    let handedOver = false;
    const timer = setTimeout(() => {
      this.#handshakeTimeouts++;
      closeQuietly(conn);
      this.#options.onHandshakeTimeout?.();
    }, this.#handshakeTimeoutMs);
    try {
      conn.setNoDelay(true);
      const parser = new RequestHeadParser({ maxHeadBytes: this.#maxHeadBytes });
      const buffer = new Uint8Array(this.#readBufferBytes);
      let head;
      do {
        const read = await conn.read(buffer);
        if (read === null) throw new Deno.errors.UnexpectedEof("Peer closed during the handshake");
        head = parser.push(buffer.subarray(0, read));
      } while (head === undefined);
      const screened = this.#options.screen?.(head);
      if (screened !== undefined) {
        await refuse(conn, screened);
        return;
      }
      const checked = checkUpgrade(head);
      if (isRefusal(checked)) {
        this.#handshakesRefused++;
        this.#options.onRefused?.(checked);
        await refuse(conn, checked);
        return;
      }
      const request: UpgradeRequest = {
        path: head.target,
        headers: head.headers,
        protocols: checked.protocols,
        remoteAddr: conn.remoteAddr,
      };
      const decision = this.#closing !== undefined
        ? { status: 503, body: "Service Unavailable: the server is closing" }
        : this.#options.upgrade(request);
      if (decision.accept !== true) {
        await refuse(conn, decision);
        return;
      }
      if (decision.protocol !== undefined && !checked.protocols.includes(decision.protocol)) {
        throw new TypeError(
          `Cannot accept subprotocol ${
            JSON.stringify(decision.protocol)
          }: the client did not offer it`,
        );
      }
      // The 101 leaves in the connection's first write, with anything sent from `open`.
      // Copied first: the connection reads into the same buffer from now on.
      const rest = parser.rest.length > 0 ? parser.rest.slice() : undefined;
      const connection = new Connection(
        conn,
        { ...this.#options.connection, protocol: decision.protocol },
        {
          preamble: encodeSwitchingProtocols(checked.key, decision.protocol),
          readBuffer: buffer,
          registry: this.#connections,
        },
      );
      this.#connections.add(connection);
      handedOver = true;
      this.#handshakeEnded(conn);
      clearTimeout(timer);
      let events: ConnectionEvents;
      try {
        events = this.#options.open(connection, request);
      } catch (error) {
        connection.terminate();
        throw error;
      }
      connection.start(events, rest);
    } catch (error) {
      if (error instanceof RequestHeadError) {
        this.#handshakesRefused++;
        await refuse(conn, { status: error.status, body: error.message }).catch(() => {});
      } else if (!isConnectionGone(error)) {
        this.#options.onError?.(error);
      }
      closeQuietly(conn);
    } finally {
      clearTimeout(timer);
      this.#handshakeEnded(conn);
      if (!handedOver) this.#descriptorFreed();
    }
  }

  /** A connection closed: one descriptor more, so an accept loop backing off tries again. */
  #descriptorFreed = (): void => {
    this.#budget.closed();
    if (this.#acceptFailed) this.#retry?.wake();
  };

  #handshakeEnded(conn: Deno.TcpConn): void {
    if (this.#pending.delete(conn) && this.#pending.size === 0) this.#handshakesDone?.resolve();
  }

  /**
   * Stops accepting, ends every handshake in progress, and closes every connection with
   * `code` (default 1001, going away), waiting for them up to their close timeout. Safe to
   * call twice.
   */
  close(code: number = CLOSE_GOING_AWAY, reason = "server closing"): Promise<void> {
    this.#closing ??= this.#close(code, reason);
    return this.#closing;
  }

  #onAbort = (): void => {
    this.close();
  };

  async #close(code: number, reason: string): Promise<void> {
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#listener.close();
    this.#retry?.wake();
    await this.#acceptLoopDone;
    if (this.#pending.size > 0) {
      this.#handshakesDone = Promise.withResolvers<void>();
      for (const conn of this.#pending) closeQuietly(conn);
      await this.#handshakesDone.promise;
    }
    for (const connection of this.#connections.values()) connection.close(code, reason);
    await this.#connections.whenEmpty();
  }

  /** Closes the server; see {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isFinite(resolved) || resolved < 1) {
    throw new RangeError(`Cannot start the WebSocket server: ${name} ${resolved} is below 1`);
  }
  return resolved;
}

async function refuse(conn: Deno.TcpConn, refusal: HandshakeRefusal): Promise<void> {
  const bytes = encodeRefusal(refusal);
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
  closeQuietly(conn);
}

function closeQuietly(conn: Deno.TcpConn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Whether `error` only says the peer or our own timeout ended the connection. */
function isConnectionGone(error: unknown): boolean {
  return error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted;
}
