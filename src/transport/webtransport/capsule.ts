/**
 * Capsules (RFC 9297 §3.2) on a WebTransport CONNECT stream: type, length, payload, carried
 * inside HTTP/3 DATA frames. The one that matters is CLOSE_WEBTRANSPORT_SESSION
 * (draft-ietf-webtrans-http3 §5): a 32-bit application close code and a UTF-8 reason. It is how
 * a session's close code travels either way; Chromium ignores a capsule written outside a DATA
 * frame.
 *
 * @module
 */
import { readVarint, varintLength, writeVarint } from "./varint.ts";

/** Capsule types. */
export const CapsuleType = {
  /** CLOSE_WEBTRANSPORT_SESSION: the session ends with a code and a reason. */
  closeSession: 0x2843,
} as const;

/** The longest close reason a capsule may carry, in bytes (draft-ietf-webtrans-http3 §5). */
export const MAX_CLOSE_REASON_BYTES = 1024;

/** A session close code and reason, as a capsule carries them. */
export interface SessionClose {
  /** The application close code, 0..2^32-1. */
  code: number;
  /** The reason, at most {@linkcode MAX_CLOSE_REASON_BYTES} of UTF-8. */
  reason: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Encodes a CLOSE_WEBTRANSPORT_SESSION capsule; a reason longer than the limit is cut at a
 * character boundary.
 *
 * @throws {RangeError} when `code` is not a 32-bit unsigned integer.
 */
export function encodeCloseCapsule(code: number, reason: string): Uint8Array {
  if (!Number.isInteger(code) || code < 0 || code > 0xffffffff) {
    throw new RangeError(`Cannot encode close capsule: code ${code} is not in 0..2^32-1`);
  }
  let text = encoder.encode(reason);
  if (text.length > MAX_CLOSE_REASON_BYTES) {
    // Drop continuation bytes at the cut so the reason stays valid UTF-8.
    let end = MAX_CLOSE_REASON_BYTES;
    while (end > 0 && (text[end] & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const payloadLength = 4 + text.length;
  const capsule = new Uint8Array(
    varintLength(CapsuleType.closeSession) + varintLength(payloadLength) + payloadLength,
  );
  let offset = writeVarint(capsule, 0, CapsuleType.closeSession);
  offset = writeVarint(capsule, offset, payloadLength);
  new DataView(capsule.buffer).setUint32(offset, code);
  capsule.set(text, offset + 4);
  return capsule;
}

/**
 * Splits the CONNECT stream's body (the concatenated DATA frame payloads) into capsules and
 * reports a close. A capsule may straddle DATA frames, so the parser keeps at most one
 * capsule header and one close payload; other capsules are skipped without being kept.
 */
export class CapsuleParser {
  /** The current capsule's header bytes so far: two varints, 16 bytes at most. */
  readonly #header = new Uint8Array(16);
  #headerLength = 0;
  /** Payload bytes still to come of the current capsule; -1 while reading a header. */
  #remaining = -1;
  /** The close capsule's payload; other payloads are skipped, not kept. */
  #payload: Uint8Array | undefined;
  #filled = 0;

  /**
   * Feeds body bytes; returns the close once a CLOSE_WEBTRANSPORT_SESSION capsule is complete
   * (nothing may follow it, so the caller stops there).
   *
   * @throws {TypeError} for a close capsule too short for its code or too long for its limit.
   */
  push(bytes: Uint8Array): SessionClose | undefined {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#remaining < 0) {
        this.#header[this.#headerLength++] = bytes[offset++];
        const header = this.#header.subarray(0, this.#headerLength);
        const type = readVarint(header, 0);
        const length = type && readVarint(header, type.next);
        if (length) this.#begin(type!.value, length.value);
      } else {
        const take = Math.min(this.#remaining, bytes.length - offset);
        this.#payload?.set(bytes.subarray(offset, offset + take), this.#filled);
        this.#filled += take;
        this.#remaining -= take;
        offset += take;
      }
      if (this.#remaining === 0) {
        this.#remaining = -1;
        if (this.#payload) return decodeClose(this.#payload);
      }
    }
    return undefined;
  }

  #begin(type: number, length: number): void {
    this.#headerLength = 0;
    this.#remaining = length;
    this.#filled = 0;
    this.#payload = undefined;
    if (type !== CapsuleType.closeSession) return;
    if (length < 4 || length > 4 + MAX_CLOSE_REASON_BYTES) {
      throw new TypeError(
        `Cannot decode close capsule: its length ${length} is outside 4..${
          4 + MAX_CLOSE_REASON_BYTES
        }`,
      );
    }
    this.#payload = new Uint8Array(length);
  }
}

function decodeClose(payload: Uint8Array): SessionClose {
  return {
    code: new DataView(payload.buffer, payload.byteOffset).getUint32(0),
    reason: decoder.decode(payload.subarray(4)),
  };
}
