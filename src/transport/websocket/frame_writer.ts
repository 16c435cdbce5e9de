/**
 * The WebSocket frame writer (RFC 6455 §5.2): encodes unmasked server frames back to back into
 * one buffer, so that everything a connection sends in one turn of the event loop leaves in
 * one write. Buffers come from a small process-wide pool and go back to it after their write.
 *
 * @module
 */
import { isSendableCloseCode } from "./close_code.ts";

/**
 * Size of a pooled output buffer: a turn's output of a typical game session (envelopes of a
 * few hundred bytes) fits; larger output gets a buffer of its own. Small, because a write
 * holds its buffer until the runtime reports it done, a turn later, so a busy turn has one
 * buffer out per connection that wrote.
 */
export const POOLED_OUTPUT_BYTES = 4 * 1024;
/** Pooled buffers kept at most (4 MiB): the writes of a turn in which 1,024 connections wrote. */
const POOL_LIMIT = 1024;
/** Whole pooled buffers, kept as views so that reusing one allocates nothing. */
const pool: Uint8Array[] = [];

function recycle(buffer: Uint8Array): void {
  if (buffer.length === POOLED_OUTPUT_BYTES && pool.length < POOL_LIMIT) pool.push(buffer);
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Bytes of the header for a payload of `length` bytes, unmasked. */
function headerBytes(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** Encodes frames into one growing buffer; see the module doc. */
export class FrameWriter {
  #buffer: Uint8Array | undefined;
  #length = 0;
  /** The whole buffer behind the last `take`, until {@linkcode recycleTaken}. */
  #taken: Uint8Array | undefined;

  /** Bytes encoded and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /** Appends bytes as they are (the handshake response that precedes the first frame). */
  raw(bytes: Uint8Array): void {
    const at = this.#reserve(bytes.length);
    this.#buffer!.set(bytes, at);
    this.#length = at + bytes.length;
  }

  /** Appends a text frame; returns its payload's size in UTF-8 bytes. */
  text(text: string): number {
    const chars = text.length;
    // Reserve for the worst case, 3 bytes per UTF-16 unit; the header is sized for ASCII.
    let header = headerBytes(chars);
    const at = this.#reserve(10 + 3 * chars);
    const buffer = this.#buffer!;
    let payloadAt = at + header;
    let written = asciiInto(text, buffer, payloadAt);
    if (written < 0) {
      written = encoder.encodeInto(text, buffer.subarray(payloadAt)).written;
      const fits = headerBytes(written);
      if (fits !== header) {
        // Non-ASCII text can need a longer header than its length in units suggested.
        buffer.copyWithin(at + fits, payloadAt, payloadAt + written);
        header = fits;
        payloadAt = at + fits;
      }
    }
    writeHeader(buffer, at, 0x81, written);
    this.#length = payloadAt + written;
    return written;
  }

  /** Appends a binary frame. */
  binary(payload: Uint8Array): void {
    this.#frame(0x82, payload);
  }

  /**
   * Appends a ping.
   *
   * @throws {RangeError} when the payload exceeds 125 bytes.
   */
  ping(payload: Uint8Array = EMPTY): void {
    checkControl("ping", payload.length);
    this.#frame(0x89, payload);
  }

  /**
   * Appends a pong.
   *
   * @throws {RangeError} when the payload exceeds 125 bytes.
   */
  pong(payload: Uint8Array = EMPTY): void {
    checkControl("pong", payload.length);
    this.#frame(0x8a, payload);
  }

  /**
   * Appends a close frame; without `code` it carries no payload.
   *
   * @throws {RangeError} when `code` may not be sent or `reason` exceeds 123 bytes of UTF-8.
   */
  close(code?: number, reason = ""): void {
    if (code === undefined) {
      if (reason !== "") throw new RangeError("Cannot send a close reason without a code");
      this.#frame(0x88, EMPTY);
      return;
    }
    const payload = encodeClosePayload(code, reason);
    this.#frame(0x88, payload);
  }

  /**
   * Hands out the encoded bytes and starts empty; `undefined` when nothing is encoded. Call
   * {@linkcode recycleTaken} once they are written (a buffer taken and never given back is
   * left to the garbage collector).
   */
  take(): Uint8Array | undefined {
    const buffer = this.#buffer;
    if (buffer === undefined || this.#length === 0) return undefined;
    const bytes = buffer.subarray(0, this.#length);
    this.#taken = buffer;
    this.#buffer = undefined;
    this.#length = 0;
    return bytes;
  }

  /** Gives the buffer behind the last {@linkcode take} back to the pool: its bytes are written. */
  recycleTaken(): void {
    if (this.#taken !== undefined) recycle(this.#taken);
    this.#taken = undefined;
  }

  /** Drops what is encoded and not taken. */
  clear(): void {
    if (this.#buffer !== undefined) recycle(this.#buffer);
    this.#buffer = undefined;
    this.#length = 0;
  }

  #frame(first: number, payload: Uint8Array): void {
    const length = payload.length;
    const header = headerBytes(length);
    const at = this.#reserve(header + length);
    writeHeader(this.#buffer!, at, first, length);
    this.#buffer!.set(payload, at + header);
    this.#length = at + header + length;
  }

  /** Makes room for `bytes` more; returns the offset to write at. */
  #reserve(bytes: number): number {
    const at = this.#length;
    const needed = at + bytes;
    const buffer = this.#buffer;
    if (buffer !== undefined && buffer.length >= needed) return at;
    let grown: Uint8Array;
    if (buffer === undefined && needed <= POOLED_OUTPUT_BYTES) {
      grown = pool.pop() ?? new Uint8Array(POOLED_OUTPUT_BYTES);
    } else {
      grown = new Uint8Array(Math.max(needed, 2 * (buffer?.length ?? 0), POOLED_OUTPUT_BYTES));
      if (buffer !== undefined) {
        grown.set(buffer.subarray(0, at));
        recycle(buffer);
      }
    }
    this.#buffer = grown;
    return at;
  }
}

/**
 * Encodes a close frame payload: the code, big-endian, then the reason.
 *
 * @throws {RangeError} when `code` may not be sent or `reason` exceeds 123 bytes of UTF-8.
 */
export function encodeClosePayload(code: number, reason: string): Uint8Array {
  if (!isSendableCloseCode(code)) {
    throw new RangeError(`Cannot send close code ${code}: not 1000–1003, 1007–1014 or 3000–4999`);
  }
  const text = encoder.encode(reason);
  if (text.length > 123) {
    throw new RangeError(`Cannot send a close reason of ${text.length} bytes: the limit is 123`);
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

function checkControl(kind: string, length: number): void {
  if (length > 125) {
    throw new RangeError(`Cannot send a ${kind} of ${length} bytes: the limit is 125`);
  }
}

function writeHeader(buffer: Uint8Array, at: number, first: number, length: number): void {
  buffer[at] = first;
  if (length < 126) {
    buffer[at + 1] = length;
  } else if (length < 65536) {
    buffer[at + 1] = 126;
    buffer[at + 2] = length >> 8;
    buffer[at + 3] = length & 0xff;
  } else {
    buffer[at + 1] = 127;
    const high = Math.floor(length / 0x100000000);
    buffer[at + 2] = high >>> 24;
    buffer[at + 3] = (high >>> 16) & 0xff;
    buffer[at + 4] = (high >>> 8) & 0xff;
    buffer[at + 5] = high & 0xff;
    buffer[at + 6] = length >>> 24;
    buffer[at + 7] = (length >>> 16) & 0xff;
    buffer[at + 8] = (length >>> 8) & 0xff;
    buffer[at + 9] = length & 0xff;
  }
}

/** Short strings below this many units are copied in JavaScript; longer ones by `encodeInto`. */
const ASCII_LOOP_UNITS = 256;

/**
 * Copies `text` as ASCII to `buffer[at..]` and returns the bytes written, or -1 when it is too
 * long for the loop or holds a non-ASCII unit (the caller then uses `encodeInto`). For short
 * strings the loop beats `encodeInto`, which needs a subarray and an op call.
 */
function asciiInto(text: string, buffer: Uint8Array, at: number): number {
  const length = text.length;
  if (length > ASCII_LOOP_UNITS) return -1;
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    if (unit > 0x7f) return -1;
    buffer[at + i] = unit;
  }
  return length;
}
