/**
 * The stream framing of WebTransport (and QUIC): each envelope is a 4-byte big-endian length
 * followed by that many bytes of UTF-8 JSON.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Encodes `text` as one length-prefixed frame. */
export function encodeFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  const frame = new Uint8Array(4 + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, 4);
  return frame;
}

/**
 * Splits a byte stream into frames. Bytes arrive in chunks of any size; a frame may span
 * chunks, and a chunk may hold many frames.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  #buffer = new Uint8Array(0);

  /** Creates a decoder that refuses frames longer than `maxFrameBytes`. */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Whether a partial frame is waiting for more bytes. */
  get pending(): boolean {
    return this.#buffer.length > 0;
  }

  /**
   * Adds `chunk` and returns the texts of every frame it completed.
   *
   * @throws {RangeError} when a frame's length is 0 or over the maximum, checked from the
   * header before its payload is kept.
   * @throws {TypeError} when a payload is not valid UTF-8.
   */
  push(chunk: Uint8Array): string[] {
    let bytes = chunk;
    if (this.#buffer.length > 0) {
      bytes = new Uint8Array(this.#buffer.length + chunk.length);
      bytes.set(this.#buffer);
      bytes.set(chunk, this.#buffer.length);
    }
    const texts: string[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (bytes.length - offset >= 4) {
      const length = view.getUint32(offset);
      if (length === 0 || length > this.#maxFrameBytes) {
        throw new RangeError(
          `Cannot decode frame: length ${length} is outside 1 to ${this.#maxFrameBytes} bytes`,
        );
      }
      if (bytes.length - offset - 4 < length) break;
      texts.push(this.#decoder.decode(bytes.subarray(offset + 4, offset + 4 + length)));
      offset += 4 + length;
    }
    // Copy the remainder so the caller's chunk is not retained.
    this.#buffer = bytes.slice(offset);
    return texts;
  }
}
