/**
 * Reads the HTTP/3 fields of a QUIC stream (varints, frame payloads) without reading a byte
 * past them, so that after a WebTransport stream's header the very same stream can be handed
 * on with its application bytes untouched. Every read is bounded: a payload is buffered only
 * after its declared length has been checked by the caller.
 *
 * @module
 */
import { varintLengthOf } from "./varint.ts";

/** The stream ended inside a field: the peer cut a varint or a frame short. */
export class TruncatedStreamError extends Error {
  /** Creates the error; `what` names the field that was cut short. */
  constructor(what: string) {
    super(`Cannot read ${what}: the stream ended inside it`);
    this.name = "TruncatedStreamError";
  }
}

/** Exact reads from one byte stream, through a BYOB reader. */
export class StreamReader {
  readonly #reader: ReadableStreamBYOBReader;

  /** Locks `stream` to this reader until {@linkcode release}. */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader({ mode: "byob" });
  }

  /**
   * Reads one varint; null when the stream ended cleanly before it.
   *
   * @throws {TruncatedStreamError} when it ends inside the varint.
   */
  async varint(what = "a varint"): Promise<number | null> {
    const first = await this.chunk(1);
    if (first === null) return null;
    const length = varintLengthOf(first[0]);
    let value = first[0] & 0x3f;
    if (length > 1) {
      for (const byte of await this.bytes(length - 1, what)) value = value * 256 + byte;
    }
    return value;
  }

  /**
   * Reads exactly `length` bytes into a new array.
   *
   * @throws {TruncatedStreamError} when the stream ends first.
   */
  async bytes(length: number, what: string): Promise<Uint8Array> {
    if (length === 0) return new Uint8Array(0);
    const target = new Uint8Array(length);
    let buffer = target.buffer;
    let filled = 0;
    while (filled < length) {
      const { value, done } = await this.#reader.read(
        new Uint8Array(buffer, filled, length - filled),
      );
      if (done || !value) throw new TruncatedStreamError(what);
      buffer = value.buffer as ArrayBuffer;
      filled += value.length;
    }
    return new Uint8Array(buffer, 0, length);
  }

  /** Reads up to `max` bytes as they arrive; null at the end of the stream. */
  async chunk(max: number): Promise<Uint8Array | null> {
    const { value, done } = await this.#reader.read(new Uint8Array(max));
    if (done || !value) return null;
    return value;
  }

  /** Reads and drops everything until the stream ends or fails. */
  async drain(): Promise<void> {
    try {
      while (await this.chunk(4096) !== null);
    } catch {
      // Reset by the peer or the connection closed: either way there is nothing more.
    }
  }

  /** Unlocks the stream so that others can read it from where this reader stopped. */
  release(): void {
    this.#reader.releaseLock();
  }

  /** Cancels the stream (QUIC STOP_SENDING); never throws. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
