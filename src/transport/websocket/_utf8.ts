/**
 * Incremental UTF-8 validation, so that a text message split across frames or reads fails on
 * the first byte that cannot be part of valid UTF-8 rather than when the message ends.
 *
 * @module
 */

/** The state at a code point boundary: nothing pending. */
export const UTF8_ACCEPT = 0;
/** The state after an invalid byte. */
export const UTF8_REJECT = -1;

/**
 * Validates `bytes[start, end)` continuing from `state` (from an earlier call, or
 * {@linkcode UTF8_ACCEPT}) and returns the new state: {@linkcode UTF8_ACCEPT} at a code point
 * boundary, {@linkcode UTF8_REJECT} on an invalid byte, otherwise a positive number that
 * encodes the continuation bytes still expected. Rejects overlong forms, surrogates and code
 * points above U+10FFFF, as a fatal `TextDecoder` does.
 */
export function validateUtf8(bytes: Uint8Array, start: number, end: number, state: number): number {
  // state: bits 0-1 continuation bytes expected, 8-15 lowest and 16-23 highest allowed next byte.
  let need = state & 3;
  let low = (state >> 8) & 0xff;
  let high = state >>> 16;
  let i = start;
  while (i < end) {
    if (need === 0) {
      // ASCII runs are the common case: skip them without touching the state.
      while (i < end && bytes[i] < 0x80) i++;
      if (i === end) break;
      const b = bytes[i++];
      if (b < 0xc2) return UTF8_REJECT; // a continuation byte, or an overlong 2-byte lead
      if (b < 0xe0) {
        need = 1;
        low = 0x80;
        high = 0xbf;
      } else if (b < 0xf0) {
        need = 2;
        low = b === 0xe0 ? 0xa0 : 0x80; // E0 80..9F would be overlong
        high = b === 0xed ? 0x9f : 0xbf; // ED A0..BF would be a surrogate
      } else if (b < 0xf5) {
        need = 3;
        low = b === 0xf0 ? 0x90 : 0x80; // F0 80..8F would be overlong
        high = b === 0xf4 ? 0x8f : 0xbf; // F4 90.. would be above U+10FFFF
      } else {
        return UTF8_REJECT;
      }
    } else {
      const b = bytes[i++];
      if (b < low || b > high) return UTF8_REJECT;
      need--;
      low = 0x80;
      high = 0xbf;
    }
  }
  return need === 0 ? UTF8_ACCEPT : need | (low << 8) | (high << 16);
}
