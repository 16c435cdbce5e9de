/**
 * Length-prefixed framing of the QUIC message stream (docs/protocol.md, "QUIC"): the client
 * opens one bidirectional stream; every message on it is a 4-byte big-endian length followed by
 * that many bytes of UTF-8 JSON. Unreliable messages may travel as QUIC datagrams instead, one
 * envelope per datagram, without a length prefix.
 *
 * @module
 */

/** Bytes in a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;

const encoder = new TextEncoder();

/** Encodes one message as a frame: a 4-byte big-endian length, then the UTF-8 text. */
export function encodeFrame(text: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 unit; encode in place after the header.
  const frame = new Uint8Array(FRAME_HEADER_BYTES + text.length * 3);
  const { written } = encoder.encodeInto(text, frame.subarray(FRAME_HEADER_BYTES));
  new DataView(frame.buffer).setUint32(0, written);
  return frame.subarray(0, FRAME_HEADER_BYTES + written);
}

/** Why the frame decoder gave up on a stream. */
export type FrameFault = "empty_frame" | "frame_too_big" | "truncated_frame";

/** Where decoded frames and framing faults go. */
export interface FrameSink {
  /** One complete frame's payload (a view valid only during the call). */
  onFrame(payload: Uint8Array): void;
  /** The stream is unusable; `message` says why, for the error reply. */
  onFault(fault: FrameFault, message: string, declaredBytes: number): void;
}

/**
 * Splits a byte stream into length-prefixed frames. It buffers at most one frame (the header
 * is checked before the payload is buffered), so a peer cannot make it hold more than
 * `maxFrameBytes + 4` bytes. After a fault it ignores further input.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #sink: FrameSink;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  #failed = false;

  /** Creates a decoder that refuses frames longer than `maxFrameBytes`. */
  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#sink = sink;
  }

  /** Whether a fault has stopped the decoder. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Feeds bytes read from the stream. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length && !this.#failed) {
      if (this.#payload === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - offset);
        this.#header.set(chunk.subarray(offset, offset + take), this.#headerFilled);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < FRAME_HEADER_BYTES) return;
        this.#headerFilled = 0;
        const length = new DataView(this.#header.buffer).getUint32(0);
        if (length === 0) {
          this.#fail("empty_frame", "Cannot decode frame: length 0 is below the minimum of 1", 0);
          return;
        }
        if (length > this.#maxFrameBytes) {
          this.#fail(
            "frame_too_big",
            `Cannot decode frame: length ${length} is above the maximum of ${this.#maxFrameBytes}`,
            length,
          );
          return;
        }
        // A whole frame already in this chunk is handed on without copying.
        if (chunk.length - offset >= length) {
          this.#sink.onFrame(chunk.subarray(offset, offset + length));
          offset += length;
          continue;
        }
        this.#payload = new Uint8Array(length);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadFilled, chunk.length - offset);
      payload.set(chunk.subarray(offset, offset + take), this.#payloadFilled);
      this.#payloadFilled += take;
      offset += take;
      if (this.#payloadFilled === payload.length) {
        this.#payload = undefined;
        this.#sink.onFrame(payload);
      }
    }
  }

  /** The stream ended; a partial frame left over is a fault. */
  end(): void {
    if (this.#failed) return;
    if (this.#payload !== undefined || this.#headerFilled > 0) {
      const have = this.#payload === undefined ? this.#headerFilled : this.#payloadFilled;
      const want = this.#payload === undefined ? FRAME_HEADER_BYTES : this.#payload.length;
      this.#fail(
        "truncated_frame",
        `Cannot decode frame: the stream ended after ${have} of ${want} bytes`,
        want,
      );
    }
  }

  #fail(fault: FrameFault, message: string, declaredBytes: number): void {
    this.#failed = true;
    this.#payload = undefined;
    this.#sink.onFault(fault, message, declaredBytes);
  }
}
