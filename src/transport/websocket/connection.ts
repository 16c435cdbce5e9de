/**
 * A server-side WebSocket connection over a `Deno.TcpConn`, after the opening handshake.
 *
 * Reading: one read loop per connection into a small buffer of its own (memory per idle
 * connection is what limits how many one process holds); a read that fills it is followed by
 * reads into a large buffer borrowed from a process-wide pool, given back as soon as a read
 * comes back that the small buffer would have held.
 *
 * Writing: frames sent during one turn of the event loop are encoded into one buffer and leave
 * in one `conn.write` at the end of the turn (a microtask). At most one write is in flight;
 * what is sent meanwhile waits and leaves in the next. `bufferedAmount` counts the bytes
 * queued or in flight, so the owner sees a client that stops reading without asking the
 * runtime.
 *
 * Closing: the close frame leaves after pending output, and the TCP connection is closed when
 * the peer's close frame arrives or after `closeTimeoutMs`, whichever is first, including when
 * the close frame itself cannot be written because the peer stopped reading.
 *
 * @module
 */
import {
  CLOSE_ABNORMAL,
  CLOSE_INTERNAL_ERROR,
  CLOSE_NO_STATUS,
  CLOSE_NORMAL,
} from "./close_code.ts";
import { DEFAULT_MAX_MESSAGE_BYTES, FrameParser, type FrameSink } from "./frame_parser.ts";
import { encodeClosePayload, FrameWriter } from "./frame_writer.ts";
import { readOp, resourceId } from "./_read_op.ts";

/** What a connection tells its owner. One object per connection, so no closures are needed. */
export interface ConnectionEvents {
  /** A text message arrived; `bytes` is its length in UTF-8, as received. */
  onText(text: string, bytes: number): void;
  /** A binary message arrived; the bytes are valid only during the call (copy to keep). */
  onBinary(bytes: Uint8Array): void;
  /**
   * A pong arrived; `rttMs` is the time since the last `ping()` if one was outstanding. The
   * payload is valid only during the call.
   */
  onPong?(payload: Uint8Array, rttMs: number | undefined): void;
  /** A ping arrived; the connection has already queued the pong. */
  onPing?(payload: Uint8Array): void;
  /**
   * The peer broke the protocol (1002), sent bad UTF-8 (1007) or too big a message (1009):
   * the close frame with `code` is queued and nothing more will be reported but `onClosed`,
   * which comes when the peer answers or after the close timeout.
   */
  onFault?(code: number, message: string): void;
  /**
   * The connection ended; called once. `code` and `reason`: the peer's close frame when it
   * sent one (1005 when it had no code), else the close this side sent (a protocol fault's
   * 1002, 1007 or 1009, or 1011 when a handler threw), else 1006 (its reason says when the
   * send buffer passed `maxBufferedBytes`; that report comes on a microtask after the `send`
   * that crossed it). `wasClean`: both close frames were exchanged before the TCP connection
   * closed.
   */
  onClosed(code: number, reason: string, wasClean: boolean): void;
}

/** The connection as its owner uses it. */
export interface WebSocketConnection {
  /** The subprotocol agreed in the handshake; empty when none. */
  readonly protocol: string;
  /** The peer's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** Bytes queued or in flight to the peer, frame headers included. */
  readonly bufferedAmount: number;
  /** `WebSocket.OPEN` (1), `CLOSING` (2) or `CLOSED` (3), as in the browser API. */
  readonly readyState: number;
  /**
   * Queues a text message and returns its payload's size in UTF-8 bytes; -1 once closing, or
   * when it takes `bufferedAmount` past `maxBufferedBytes` (the connection is then torn down):
   * the message is dropped then.
   */
  send(text: string): number;
  /** Queues a binary message (copied at once); false where `send` would return -1. */
  sendBinary(bytes: Uint8Array): boolean;
  /** Queues a ping; false once closing. Its pong reaches `onPong` with the round trip. */
  ping(payload?: Uint8Array): boolean;
  /** Starts the close handshake after pending output; safe to call twice. */
  close(code?: number, reason?: string): void;
  /** Closes the TCP connection now, dropping pending output; safe to call twice. */
  terminate(): void;
}

/** Options for {@linkcode Connection}. */
export interface ConnectionOptions {
  /** Largest inbound message in bytes; past it the connection closes with 1009. */
  maxMessageBytes?: number;
  /**
   * How long to wait, after the close frame is queued, for the peer's close frame before the
   * TCP connection is closed anyway; it also bounds how long a peer that stops reading can
   * keep the socket open. Default 3,000 ms.
   */
  closeTimeoutMs?: number;
  /**
   * Bytes queued or in flight past which the connection is torn down (closed with 1006): the
   * peer stopped reading and memory must not grow with it. Owners should act on
   * `bufferedAmount` well before. Default 16 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Size of the connection's own read buffer, held while idle. Larger reads go through a
   * pooled 64 KiB buffer. Default 1,024 bytes.
   */
  readBufferBytes?: number;
  /** The subprotocol agreed in the handshake. */
  protocol?: string;
}

/** Default {@linkcode ConnectionOptions.closeTimeoutMs}. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 3_000;
/** Default {@linkcode ConnectionOptions.maxBufferedBytes}. */
export const DEFAULT_MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Default {@linkcode ConnectionOptions.readBufferBytes}. */
export const DEFAULT_READ_BUFFER_BYTES = 1024;

/**
 * Checks connection options.
 *
 * @throws {RangeError} naming the first option out of range.
 */
export function checkConnectionOptions(options: ConnectionOptions): void {
  const fail = (name: string, value: number, bound: string) => {
    throw new RangeError(`Cannot open a connection: ${name} ${value} is ${bound}`);
  };
  const { closeTimeoutMs, maxBufferedBytes, readBufferBytes, maxMessageBytes } = options;
  if (closeTimeoutMs !== undefined && !(closeTimeoutMs >= 1)) {
    fail("closeTimeoutMs", closeTimeoutMs, "below 1");
  }
  if (maxBufferedBytes !== undefined && !(maxBufferedBytes >= 1024)) {
    fail("maxBufferedBytes", maxBufferedBytes, "below 1024");
  }
  if (
    readBufferBytes !== undefined &&
    (!Number.isInteger(readBufferBytes) || readBufferBytes < 128 ||
      readBufferBytes > LARGE_READ_BYTES)
  ) {
    fail("readBufferBytes", readBufferBytes, `not an integer from 128 to ${LARGE_READ_BYTES}`);
  }
  if (
    maxMessageBytes !== undefined &&
    !(Number.isSafeInteger(maxMessageBytes) && maxMessageBytes >= 1)
  ) {
    fail("maxMessageBytes", maxMessageBytes, "not a positive integer");
  }
}

/** Size of the pooled buffers that busy connections read into. */
const LARGE_READ_BYTES = 64 * 1024;
/**
 * Large read buffers lent out at most (16 MiB). A read is pending until data arrives, so a
 * client that goes quiet right after filling its connection's small buffer keeps the large
 * one it caused to be lent; the cap bounds what many such clients can hold. Past it,
 * connections read with their small buffers: slower, never larger.
 */
const LARGE_READ_LIMIT = 256;
/** Large read buffers not lent out, kept for the next busy connection. */
const largeReadPool: Uint8Array[] = [];
let largeReadsLent = 0;

/** Lends a large read buffer, or undefined when `LARGE_READ_LIMIT` are lent. */
function lendLargeRead(): Uint8Array | undefined {
  if (largeReadsLent >= LARGE_READ_LIMIT) return undefined;
  largeReadsLent++;
  return largeReadPool.pop() ?? new Uint8Array(LARGE_READ_BYTES);
}

function returnLargeRead(buffer: Uint8Array): void {
  largeReadsLent--;
  largeReadPool.push(buffer);
}

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** Something that tracks live connections (the server's registry). */
export interface ConnectionRegistry {
  /** Called once when `connection` has closed. */
  delete(connection: Connection): unknown;
}

/** What the server hands a connection it creates, besides the options. */
export interface ConnectionSetup {
  /** Bytes that leave ahead of the first frame, in the same write: the 101 response. */
  preamble?: Uint8Array;
  /** The buffer the handshake was read into, kept as the read buffer rather than a new one. */
  readBuffer?: Uint8Array;
  /** Told when the connection has closed. */
  registry?: ConnectionRegistry;
}

/**
 * A server-side WebSocket connection; see the module doc. Owners see it as a
 * {@linkcode WebSocketConnection}; its {@linkcode FrameSink} methods are for its parser.
 */
export class Connection implements WebSocketConnection, FrameSink {
  static #flushQueue: Connection[] = [];
  static #flushScheduled = false;

  readonly #conn: Deno.TcpConn;
  /** The connection's runtime resource id for `readOp`, or -1 to read with `conn.read`. */
  readonly #rid: number;
  readonly #parser: FrameParser;
  readonly #writer = new FrameWriter();
  readonly #closeTimeoutMs: number;
  readonly #maxBufferedBytes: number;
  readonly #registry: ConnectionRegistry | undefined;
  readonly #protocol: string;
  readonly #remoteAddr: Deno.NetAddr;
  #events: ConnectionEvents | undefined;
  #readBuffer: Uint8Array;
  #state = OPEN;
  /** The output being written (taken from the writer), if any. */
  #output: Uint8Array | undefined;
  /** Bytes of `#output` not yet written. */
  #inFlight = 0;
  #writing = false;
  #flushQueued = false;
  #closeSent = false;
  #closeReceived = false;
  /**
   * Whether our close frame reports a fault. The parser has stopped, so once the close frame
   * is written the connection shuts its sending side and reads and discards until the peer
   * closes its side: closing with unread input would reset the connection, and a reset can
   * destroy the close frame before the peer reads it.
   */
  #faulted = false;
  /** Whether the peer closed its side of the TCP connection. */
  #peerEnded = false;
  #closeCode = CLOSE_ABNORMAL;
  #closeReason = "";
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #pingSentAt = -1;

  /**
   * Wraps an upgraded TCP connection. Nothing is read until {@linkcode start}.
   *
   * @throws {RangeError} when an option is out of range.
   */
  constructor(conn: Deno.TcpConn, options: ConnectionOptions = {}, setup: ConnectionSetup = {}) {
    checkConnectionOptions(options);
    const readBufferBytes = options.readBufferBytes ?? DEFAULT_READ_BUFFER_BYTES;
    this.#conn = conn;
    this.#rid = resourceId(conn);
    this.#parser = new FrameParser(this, {
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    });
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.#registry = setup.registry;
    this.#protocol = options.protocol ?? "";
    this.#remoteAddr = conn.remoteAddr;
    this.#readBuffer = setup.readBuffer?.length === readBufferBytes
      ? setup.readBuffer
      : new Uint8Array(readBufferBytes);
    if (setup.preamble !== undefined) this.#writer.raw(setup.preamble);
  }

  /** The subprotocol agreed in the handshake; empty when none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The peer's address. */
  get remoteAddr(): Deno.NetAddr {
    return this.#remoteAddr;
  }

  /** Bytes queued or in flight to the peer, frame headers included. */
  get bufferedAmount(): number {
    return this.#writer.length + this.#inFlight;
  }

  /** 1 open, 2 closing, 3 closed. */
  get readyState(): number {
    return this.#state;
  }

  /**
   * Starts reading, reporting to `events`; `initial` holds bytes that arrived with the
   * handshake (parsed now, so they are not kept). Sends the preamble at the end of the turn.
   */
  start(events: ConnectionEvents, initial?: Uint8Array): void {
    if (this.#events !== undefined) throw new TypeError("Cannot start a connection twice");
    this.#events = events;
    this.#scheduleFlush();
    if (initial !== undefined && initial.length > 0 && !this.#feed(initial, initial.length)) return;
    this.#readLoop();
  }

  /** Queues a text message: its UTF-8 bytes, or -1 once closing (the message is dropped). */
  send(text: string): number {
    if (this.#state !== OPEN) return -1;
    const bytes = this.#writer.text(text);
    return this.#queued() ? bytes : -1;
  }

  /** Queues a binary message (copied at once); false once closing. */
  sendBinary(bytes: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    this.#writer.binary(bytes);
    return this.#queued();
  }

  /**
   * Queues a ping; false once closing.
   *
   * @throws {RangeError} when the payload exceeds 125 bytes.
   */
  ping(payload?: Uint8Array): boolean {
    if (this.#state !== OPEN) return false;
    this.#writer.ping(payload);
    this.#pingSentAt = performance.now();
    return this.#queued();
  }

  /**
   * Starts the close handshake after pending output; safe to call twice. The TCP connection
   * closes when the peer answers, or after `closeTimeoutMs`.
   *
   * @throws {RangeError} when `code` may not be sent or `reason` exceeds 123 bytes.
   */
  close(code: number = CLOSE_NORMAL, reason = ""): void {
    if (this.#state !== OPEN) return;
    encodeClosePayload(code, reason); // validates before anything changes
    this.#beginClose(code, reason);
  }

  /** Closes the TCP connection now, dropping pending output; safe to call twice. */
  terminate(): void {
    this.#finish(CLOSE_ABNORMAL, "", false);
  }

  // FrameSink: called by the parser, from `#feed`.

  /** @internal A text message from the parser. */
  onText(text: string, bytes: number): void {
    if (this.#state === OPEN) this.#events!.onText(text, bytes);
  }

  /** @internal A binary message from the parser. */
  onBinary(bytes: Uint8Array): void {
    if (this.#state === OPEN) this.#events!.onBinary(bytes);
  }

  /** @internal A ping from the parser: answered at once, then reported. */
  onPing(payload: Uint8Array): void {
    if (this.#state !== OPEN) return;
    this.#writer.pong(payload);
    if (!this.#queued()) return;
    this.#events!.onPing?.(payload);
  }

  /** @internal A pong from the parser. */
  onPong(payload: Uint8Array): void {
    if (this.#state !== OPEN) return;
    const rtt = this.#pingSentAt >= 0 ? performance.now() - this.#pingSentAt : undefined;
    this.#pingSentAt = -1;
    this.#events!.onPong?.(payload, rtt);
  }

  /** @internal The peer's close frame from the parser. */
  onClose(code: number, reason: string): void {
    this.#closeReceived = true;
    this.#closeCode = code;
    this.#closeReason = reason;
    if (this.#state === OPEN) {
      // Echo the code and reason (RFC 6455 §5.5.1), as ws does; a close without a code is
      // answered without one.
      this.#beginClose(code === CLOSE_NO_STATUS ? undefined : code, reason);
    } else if (!this.#faulted) {
      this.#closeIfDone();
    }
  }

  /** @internal A protocol fault from the parser. */
  onFault(closeCode: number, message: string): void {
    if (this.#state !== OPEN) {
      this.#finish(this.#closeCode, this.#closeReason, false);
      return;
    }
    this.#faulted = true;
    this.#beginClose(closeCode, truncateReason(message));
    // The owner learns the full message; the peer gets at most 123 bytes of it.
    this.#closeReason = message;
    this.#events!.onFault?.(closeCode, message);
  }

  #beginClose(code: number | undefined, reason: string): void {
    this.#state = CLOSING;
    this.#writer.close(code, reason);
    this.#closeSent = true;
    if (!this.#closeReceived) {
      this.#closeCode = code ?? CLOSE_NO_STATUS;
      this.#closeReason = reason;
    }
    this.#closeTimer = setTimeout(() => {
      this.#closeTimer = undefined;
      this.#finish(this.#closeCode, this.#closeReason, false);
    }, this.#closeTimeoutMs);
    this.#scheduleFlush();
  }

  /**
   * Closes the TCP connection once output is written and either both close frames are
   * exchanged (clean) or the peer has gone.
   */
  #closeIfDone(): void {
    if (this.#state !== CLOSING || this.#writing || this.#writer.length > 0) return;
    if (this.#closeReceived && !this.#faulted) {
      this.#finish(this.#closeCode, this.#closeReason, true);
    } else if (this.#peerEnded) {
      this.#finish(this.#closeCode, this.#closeReason, false);
    } else if (this.#faulted) {
      this.#conn.closeWrite().catch(() => {});
    }
  }

  /**
   * Ends the connection: closes the TCP connection and reports `onClosed` once, at once or,
   * with `defer`, on a microtask (when the owner's own call got us here).
   */
  #finish(code: number, reason: string, wasClean: boolean, defer = false): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
    this.#parser.stop();
    this.#writer.clear();
    try {
      this.#conn.close();
    } catch {
      // already closed by the runtime
    }
    this.#registry?.delete(this);
    const events = this.#events;
    if (events === undefined) return;
    if (defer) {
      queueMicrotask(() => Connection.#report(events, code, reason, wasClean));
    } else {
      Connection.#report(events, code, reason, wasClean);
    }
  }

  static #report(events: ConnectionEvents, code: number, reason: string, wasClean: boolean) {
    try {
      events.onClosed(code, reason, wasClean);
    } catch (error) {
      reportError(error);
    }
  }

  /** After output was queued: enforces the buffer limit and schedules the flush. */
  #queued(): boolean {
    if (this.#writer.length + this.#inFlight > this.#maxBufferedBytes) {
      this.#finish(
        CLOSE_ABNORMAL,
        `Send buffer exceeded ${this.#maxBufferedBytes} bytes: the peer is not reading`,
        false,
        true,
      );
      return false;
    }
    this.#scheduleFlush();
    return true;
  }

  #scheduleFlush(): void {
    if (this.#flushQueued || this.#writing || this.#events === undefined) return;
    this.#flushQueued = true;
    Connection.#flushQueue.push(this);
    if (Connection.#flushScheduled) return;
    Connection.#flushScheduled = true;
    queueMicrotask(Connection.#flushAll);
  }

  /** Starts the writes of every connection that got output this turn. */
  static #flushAll = (): void => {
    Connection.#flushScheduled = false;
    const queue = Connection.#flushQueue;
    for (let i = 0; i < queue.length; i++) {
      const connection = queue[i];
      connection.#flushQueued = false;
      if (!connection.#writing && connection.#writer.length > 0 && connection.#state !== CLOSED) {
        connection.#writeNext();
      }
    }
    queue.length = 0;
  };

  // Writes settle into one callback made once per connection, not an async loop started each
  // turn: that allocated its frame, its promise and its await closures per turn, garbage (and
  // young-generation GC pauses) per message under load. Reads stay an async loop: an await on
  // the runtime's promise allocates less than `then`, which makes a promise of its own.

  /** Writes the next taken output, or ends the write cycle when there is none. */
  #writeNext(): void {
    const bytes = this.#writer.take();
    if (bytes === undefined) {
      this.#writing = false;
      this.#closeIfDone();
      return;
    }
    this.#writing = true;
    this.#output = bytes;
    this.#inFlight = bytes.length;
    this.#write(bytes);
  }

  #write(bytes: Uint8Array): void {
    let written: Promise<number>;
    try {
      written = this.#conn.write(bytes);
    } catch (error) {
      this.#afterWrite(error);
      return;
    }
    written.then(this.#afterWrite, this.#afterWrite);
  }

  /** A write settled: with the bytes written, or with why it failed. */
  readonly #afterWrite = (result: unknown): void => {
    const output = this.#output!;
    if (typeof result !== "number") {
      this.#output = undefined;
      this.#inFlight = 0;
      this.#writing = false;
      this.#ioFailed(result);
      return;
    }
    this.#inFlight -= result;
    if (this.#inFlight > 0) {
      this.#write(output.subarray(output.length - this.#inFlight));
      return;
    }
    this.#output = undefined;
    this.#writer.recycleTaken();
    if (this.#state !== CLOSED) this.#writeNext();
  };

  async #readLoop(): Promise<void> {
    let large: Uint8Array | undefined;
    try {
      while (this.#state !== CLOSED) {
        const buffer = large ?? this.#readBuffer;
        let read: number | null;
        try {
          if (this.#rid >= 0) read = await readOp(this.#rid, buffer) || null;
          else read = await this.#conn.read(buffer);
        } catch (error) {
          this.#ioFailed(error);
          return;
        }
        if (read === null) {
          this.#ended();
          return;
        }
        if (!this.#feed(buffer, read)) return;
        if (large === undefined) {
          // A full read: more is likely waiting in the kernel, so read it in larger bites.
          if (read === buffer.length) large = lendLargeRead();
        } else if (read === large.length) {
          // Still more waiting: a read of ready data settles at once, so without a pause this
          // loop would run on in microtasks while every other connection and timer waits (a
          // flooding client took other players' pings from 1 ms to seconds).
          await nextMacrotask();
        } else if (read <= this.#readBuffer.length) {
          // Traffic the small buffer holds again: give the large one back.
          returnLargeRead(large);
          large = undefined;
        }
      }
    } finally {
      if (large !== undefined) returnLargeRead(large);
    }
  }

  /** Parses `bytes[0, length)`; false when an event handler threw and the connection closed. */
  #feed(bytes: Uint8Array, length: number): boolean {
    try {
      this.#parser.push(bytes, length);
      return true;
    } catch (error) {
      // An owner's handler threw, leaving the rest of the chunk unparsed: the peer gets 1011
      // and the process an uncaught error report, as a WebSocket event listener would give.
      this.#parser.stop();
      if (this.#state === OPEN) {
        this.#faulted = true;
        this.#beginClose(CLOSE_INTERNAL_ERROR, "Internal error");
      } else {
        this.#finish(CLOSE_INTERNAL_ERROR, "Internal error", false);
      }
      reportError(error);
      return this.#state !== CLOSED;
    }
  }

  #ended(): void {
    this.#peerEnded = true;
    if (this.#state === OPEN || this.#faulted || !this.#closeReceived) {
      this.#finish(this.#closeCode, this.#closeReason, false);
    } else {
      // The peer sent its close frame and hung up: finish once our echo is out (or fails).
      this.#closeIfDone();
    }
  }

  #ioFailed(_error: unknown): void {
    // Reset, broken pipe, or our own close cancelling the op: the connection is gone either way.
    this.#finish(this.#closeCode, this.#closeReason, false);
  }
}

/** Cuts `message` to at most 123 bytes of UTF-8 for a close frame. */
function truncateReason(message: string): string {
  let reason = message;
  while (new TextEncoder().encode(reason).length > 123) reason = reason.slice(0, -1);
  return reason;
}

/** Resolves after the event loop has had a turn: timers and other connections' reads run. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
