/**
 * QUIC variable-length integers (RFC 9000 §16), as HTTP/3, its frames, settings, capsules and
 * datagram prefixes use them: the two high bits of the first byte give the length (1, 2, 4 or
 * 8 bytes), the rest is the value, big-endian.
 *
 * Values are JavaScript numbers. Every value this layer acts on (lengths, stream ids, frame
 * and capsule types it knows) is far below 2^53; larger ones (reserved "grease" setting ids,
 * say) decode approximately, which is harmless since they are only ever ignored.
 *
 * @module
 */

/** How many bytes `value` takes as a varint. */
export function varintLength(value: number): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x40000000) return 4;
  return 8;
}

/**
 * Writes `value` as a varint at `offset` of `target` and returns the offset after it.
 *
 * @throws {RangeError} when `value` is negative, not an integer, or above 2^62 - 1.
 */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  // 2^62 - 1, the largest varint, rounds to 2^62 as a number: compare with that instead.
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 62) {
    throw new RangeError(`Cannot encode varint: ${value} is not an integer in 0..2^62-1`);
  }
  const length = varintLength(value);
  if (length === 1) {
    target[offset] = value;
  } else if (length === 2) {
    target[offset] = 0x40 | (value >> 8);
    target[offset + 1] = value & 0xff;
  } else if (length === 4) {
    new DataView(target.buffer, target.byteOffset).setUint32(offset, value + 0x80000000);
  } else {
    new DataView(target.buffer, target.byteOffset)
      .setBigUint64(offset, BigInt(value) | 0xc000000000000000n);
  }
  return offset + length;
}

/** `value` as a varint of its own. */
export function encodeVarint(value: number): Uint8Array {
  const bytes = new Uint8Array(varintLength(value));
  writeVarint(bytes, 0, value);
  return bytes;
}

/** A varint read from a buffer: its value and the offset after it. */
export interface DecodedVarint {
  /** The value. */
  value: number;
  /** The offset just past the varint. */
  next: number;
}

/** Reads the varint at `offset` of `bytes`; undefined when the buffer ends inside it. */
export function readVarint(bytes: Uint8Array, offset: number): DecodedVarint | undefined {
  if (offset >= bytes.length) return undefined;
  const length = 1 << (bytes[offset] >> 6);
  if (offset + length > bytes.length) return undefined;
  let value = bytes[offset] & 0x3f;
  for (let i = 1; i < length; i++) value = value * 256 + bytes[offset + i];
  return { value, next: offset + length };
}

/** The length of the varint whose first byte is `first`. */
export function varintLengthOf(first: number): 1 | 2 | 4 | 8 {
  return (1 << (first >> 6)) as 1 | 2 | 4 | 8;
}
