/**
 * One accepted WebTransport session (draft-ietf-webtrans-http3) on its own QUIC connection:
 * the streams the client opens in it, its datagrams, and its close, which travels both ways as
 * a CLOSE_WEBTRANSPORT_SESSION capsule on the CONNECT stream. Sessions come from
 * `acceptWebTransport` (`webtransport_handshake.ts`).
 *
 * The server holds one session per connection, so the session owns the connection: when the
 * session ends, either way, the connection is closed with H3_NO_ERROR (browsers leave it open
 * otherwise until its idle timeout).
 *
 * @module
 */
import { waitAtMost } from "../quic_engine.ts";
import { CapsuleParser, encodeCloseCapsule, type SessionClose } from "./capsule.ts";
import { encodeFrame, FrameType, H3Error } from "./http3.ts";
import type { StreamReader } from "./stream_reader.ts";
import { encodeVarint } from "./varint.ts";

/** How a session ended. */
export interface WebTransportSessionClose {
  /** The session close code: from the close capsule, or 0 when the session ended without. */
  readonly code: number;
  /** The reason from the close capsule, or empty. */
  readonly reason: string;
  /** Whether the client ended it (capsule, end of the CONNECT stream, connection close). */
  readonly remote: boolean;
}

/** Peer-opened WebTransport streams waiting to be taken, with their session id. */
export class IncomingStreams {
  readonly #queued: Array<{ stream: Deno.QuicBidirectionalStream; sessionId: number }> = [];
  #waiter: ((item: Deno.QuicBidirectionalStream | null) => void) | undefined;
  #sessionId: number | undefined;
  #ended = false;

  /** Adds a stream whose header named `sessionId`. */
  push(stream: Deno.QuicBidirectionalStream, sessionId: number): void {
    if (this.#ended) return refuseStream(stream);
    this.#queued.push({ stream, sessionId });
    this.#wake();
  }

  /** No more streams will come (the connection closed): pending and later takes get null. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** Accepts streams of `sessionId` from now on; those of other sessions are refused. */
  bind(sessionId: number): void {
    this.#sessionId = sessionId;
  }

  /** The next stream of the bound session, or null once there will be none. */
  next(): Promise<Deno.QuicBidirectionalStream | null> {
    const item = this.#take();
    if (item !== undefined || this.#ended) return Promise.resolve(item ?? null);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  #take(): Deno.QuicBidirectionalStream | undefined {
    for (let item = this.#queued.shift(); item; item = this.#queued.shift()) {
      if (item.sessionId === this.#sessionId) return item.stream;
      refuseStream(item.stream);
    }
    return undefined;
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) return;
    const item = this.#take();
    if (item === undefined && !this.#ended) return;
    this.#waiter = undefined;
    waiter(item ?? null);
  }
}

/** Resets both directions of a stream the server does not want; never throws. */
export function refuseStream(stream: Deno.QuicBidirectionalStream): void {
  stream.readable.cancel().catch(() => {});
  stream.writable.abort().catch(() => {});
}

/** What `acceptWebTransport` hands a new session. */
export interface WebTransportSessionInit {
  /** The QUIC connection, ALPN `h3`. */
  conn: Deno.QuicConn;
  /** The session id: the CONNECT stream's id. */
  sessionId: number;
  /** The CONNECT stream's reader, positioned after the request's HEADERS frame. */
  connectReader: StreamReader;
  /** The CONNECT stream's writer, after the response's HEADERS frame. */
  connectWriter: WritableStreamDefaultWriter<Uint8Array>;
  /** The client's WebTransport streams. */
  streams: IncomingStreams;
  /** The server's control stream, which must stay open as long as the connection. */
  controlStream: WritableStream<Uint8Array>;
}

/** The largest DATA or other frame payload read at once from the CONNECT stream. */
const CONNECT_READ_BYTES = 4096;

/** An accepted WebTransport session. */
export class WebTransportSession {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** Resolves once the session has ended and its connection is closed; never rejects. */
  readonly closed: Promise<WebTransportSessionClose>;
  readonly #conn: Deno.QuicConn;
  readonly #streams: IncomingStreams;
  readonly #connectWriter: WritableStreamDefaultWriter<Uint8Array>;
  /**
   * Held, never read, for the connection's life: Deno closes a stream whose object is garbage
   * collected, and the end of the control stream is a connection error (Chromium closed the
   * connection with "Attempt to close a static stream" some 800 requests into the benchmark
   * while nothing held it).
   */
  readonly #controlStream: WritableStream<Uint8Array>;
  /** The datagram prefix: the session's quarter stream id (RFC 9297 §2.1). */
  readonly #prefix: Uint8Array;
  #ended: WebTransportSessionClose | undefined;
  #closing: Promise<void> | undefined;

  /** Use `acceptWebTransport`. */
  constructor(init: WebTransportSessionInit) {
    this.#conn = init.conn;
    this.remoteAddr = init.conn.remoteAddr;
    this.#streams = init.streams;
    this.#connectWriter = init.connectWriter;
    this.#controlStream = init.controlStream;
    this.#prefix = encodeVarint(init.sessionId / 4);
    this.#streams.bind(init.sessionId);
    void this.#watchConnectStream(init.connectReader);
    const connectionClosed = init.conn.closed.then(
      (info) => ({ code: 0, reason: info.reason, remote: true }),
      // An idle timeout rejects: nobody closed anything.
      (error: Error) => ({ code: 0, reason: error.message, remote: false }),
    );
    this.closed = connectionClosed.then((info) => {
      this.#ended ??= info;
      this.#streams.end();
      return this.#ended;
    });
  }

  /** The largest datagram payload the session can send now; 0 once it has ended. */
  get maxDatagramSize(): number {
    if (this.#ended) return 0;
    return Math.max(0, this.#conn.maxDatagramSize - this.#prefix.length);
  }

  /** Sends one datagram; false when it is too large or the session has ended. */
  sendDatagram(payload: Uint8Array): boolean {
    if (payload.length > this.maxDatagramSize) return false;
    const datagram = new Uint8Array(this.#prefix.length + payload.length);
    datagram.set(this.#prefix);
    datagram.set(payload, this.#prefix.length);
    this.#conn.sendDatagram(datagram).catch(() => {});
    return true;
  }

  /**
   * The next datagram of this session, prefix removed; datagrams of other sessions are
   * dropped.
   *
   * @throws {Error} once the connection has closed.
   */
  async readDatagram(): Promise<Uint8Array> {
    const prefix = this.#prefix;
    while (true) {
      const datagram = await this.#conn.readDatagram();
      if (datagram.length < prefix.length) continue;
      if (prefix.every((byte, i) => datagram[i] === byte)) return datagram.subarray(prefix.length);
    }
  }

  /** The next bidirectional stream the client opens in the session, header removed; null
   * once the connection has closed. */
  acceptStream(): Promise<Deno.QuicBidirectionalStream | null> {
    return this.#streams.next();
  }

  /**
   * Ends the session with `code` (0..2^32-1) and `reason`: sends the close capsule and ends
   * the CONNECT stream, waits `lingerMs` (or until the client closes the connection, which
   * browsers do not), then closes the connection. Safe to call twice; resolves once the
   * connection is closed.
   *
   * The wait is what carries the code to a browser: Chromium answers the capsule with the end
   * of its CONNECT stream at once, yet tells the page a moment later; a CONNECTION_CLOSE in
   * between turns the close into "Connection lost." without a code. Closing on the client's
   * end of stream lost the code in 2 of 4 runs of the browser test; lingering, in none of 6.
   */
  close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closing ??= this.#close(code, reason, lingerMs);
    return this.#closing;
  }

  async #close(code: number, reason: string, lingerMs: number): Promise<void> {
    if (this.#ended === undefined) {
      this.#ended = { code, reason, remote: false };
      const capsule = encodeFrame(FrameType.data, encodeCloseCapsule(code, reason));
      const sent = (async () => {
        await this.#connectWriter.write(capsule);
        await this.#connectWriter.close();
        await this.#conn.closed;
      })();
      sent.catch(() => {}); // The connection is gone already: the close below settles it.
      await waitAtMost(sent, lingerMs);
    }
    this.#closeConnection();
    await this.closed;
  }

  #closeConnection(code: number = H3Error.noError, reason = ""): void {
    try {
      this.#conn.close({ closeCode: code, reason });
    } catch {
      // Closed already.
    }
  }

  /**
   * Reads the CONNECT stream after the request: HTTP/3 frames whose DATA payloads are the
   * capsule stream. A close capsule or the end of the stream ends the session from the
   * client's side; a malformed capsule ends it as a protocol error.
   */
  async #watchConnectStream(reader: StreamReader): Promise<void> {
    const capsules = new CapsuleParser();
    let close: SessionClose | undefined;
    try {
      while (close === undefined) {
        const type = await reader.varint("a frame type");
        if (type === null) break;
        let remaining = await reader.varint("a frame length");
        if (remaining === null) break;
        while (remaining > 0 && close === undefined) {
          const chunk = await reader.chunk(Math.min(remaining, CONNECT_READ_BYTES));
          if (chunk === null) break;
          remaining -= chunk.length;
          // Frames other than DATA (unknown and reserved types) are skipped (RFC 9114 §9).
          if (type === FrameType.data) close = capsules.push(chunk);
        }
      }
    } catch (error) {
      if (error instanceof TypeError && this.#ended === undefined) {
        this.#ended = { code: 0, reason: error.message, remote: true };
        this.#closeConnection(H3Error.messageError, error.message);
        return;
      }
      // Reset, or the connection closed: `closed` reports how.
      return;
    }
    if (this.#ended !== undefined) return; // Our close, answered.
    this.#ended = { code: close?.code ?? 0, reason: close?.reason ?? "", remote: true };
    // The client ended the session: so does the server, and the connection with it.
    this.#closeConnection();
  }
}
