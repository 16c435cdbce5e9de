/**
 * A WebTransport session behind the QUIC engines' connection interface, so the gateway serves
 * it exactly as a native QUIC connection: the first bidirectional stream the client opens is
 * the message stream (length-prefixed envelopes), further ones are refused, datagrams carry
 * unreliable envelopes, and the close code travels as the session close code.
 *
 * @module
 */
import type { QuicConnectionHandler, QuicEngineConnection } from "../quic_engine.ts";
import { readStreamChunks, waitAtMost } from "../quic_engine.ts";
import { refuseStream, type WebTransportSession } from "./webtransport_session.ts";

/** Swallows a write's rejection: the connection failed, and `onClosed` reports it. */
const ignore = () => {};

function formatAddr(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** One WebTransport session as a {@linkcode QuicEngineConnection}. */
export class WebTransportConnection implements QuicEngineConnection {
  readonly remoteAddr: string;
  readonly #session: WebTransportSession;
  readonly #handler: QuicConnectionHandler;
  readonly #done: Promise<void>;
  /** Settles when the client's side of the message stream has ended. */
  readonly #streamEnded = Promise.withResolvers<void>();
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Bytes handed to the writer and not yet taken by the stream (see `queuedBytes`). */
  #queuedBytes = 0;
  #closeStarted = false;
  #ended = false;
  #closing: Promise<void> | undefined;

  /** Starts serving `session`, reporting its events to `handler`. */
  constructor(session: WebTransportSession, handler: QuicConnectionHandler) {
    this.#session = session;
    this.#handler = handler;
    this.remoteAddr = formatAddr(session.remoteAddr);
    const closed = session.closed.then((info) => {
      this.#ended = true;
      return info;
    });
    this.#done = Promise.all([closed, this.#serveStreams(), this.#readDatagrams()]).then(
      ([info]) => handler.onClosed({ code: info.code, reason: info.reason, remote: info.remote }),
    );
  }

  /** Resolves once the session has ended and every read loop is done. */
  get done(): Promise<void> {
    return this.#done;
  }

  get maxDatagramBytes(): number {
    return this.#ended ? 0 : this.#session.maxDatagramSize;
  }

  async #serveStreams(): Promise<void> {
    const first = await this.#session.acceptStream();
    if (first === null) return;
    this.#writer = first.writable.getWriter();
    // A write that fails (session gone) surfaces through `closed`; nothing to do here.
    this.#writer.closed.catch(() => {});
    const reading = this.#readStream(first.readable);
    // The message stream is the only one; later streams are refused.
    for (
      let next = await this.#session.acceptStream();
      next;
      next = await this.#session.acceptStream()
    ) {
      refuseStream(next);
    }
    await reading;
  }

  async #readStream(readable: ReadableStream<Uint8Array>): Promise<void> {
    // Reset by the client (browsers reset streams when a session closes) or the connection
    // closed: either way the stream has ended.
    await readStreamChunks(readable, (chunk) => this.#handler.onStreamData(chunk));
    this.#streamEnded.resolve();
    this.#handler.onStreamEnd();
  }

  async #readDatagrams(): Promise<void> {
    try {
      while (true) this.#handler.onDatagram(await this.#session.readDatagram());
    } catch {
      // The connection closed.
    }
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  writeStream(bytes: Uint8Array): boolean {
    if (this.#writer === undefined || this.#closeStarted || this.#ended) return false;
    const length = bytes.length;
    this.#queuedBytes += length;
    this.#writer.write(bytes).then(() => this.#queuedBytes -= length, ignore);
    return true;
  }

  sendDatagram(bytes: Uint8Array): boolean {
    if (this.#closeStarted) return false;
    return this.#session.sendDatagram(bytes);
  }

  close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closing ??= this.#close(code, reason, lingerMs);
    return this.#closing;
  }

  async #close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closeStarted = true;
    if (this.#writer !== undefined && !this.#ended) {
      // Finish the message stream and wait, up to `lingerMs`, for the client to finish its
      // side, which it does once it has read to the end (the SDK does). Only then goes the
      // close capsule: Chromium drops what its page has not read yet when a session closes
      // (all of 20 envelopes written just before a close, in the browser test).
      await waitAtMost(Promise.all([this.#writer.close(), this.#streamEnded.promise]), lingerMs);
    }
    await this.#session.close(code, reason, lingerMs);
    await this.#done;
  }
}
