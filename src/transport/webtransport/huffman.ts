/**
 * Decoding of the Huffman code that HPACK (RFC 7541 §5.2, Appendix B) and QPACK use for header
 * strings. Browsers Huffman-code the values of their WebTransport CONNECT request, so reading
 * its path and Origin needs this.
 *
 * The code is canonical: codes of one length are consecutive and ordered by symbol, and longer
 * codes follow shorter ones. So the whole code is given by each symbol's code length, and a
 * decoder needs, per length, only the first code and the symbols of that length.
 *
 * @module
 */

/** Code length in bits of each symbol 0..255, then of EOS (256); RFC 7541 Appendix B. */
// deno-fmt-ignore
const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0-15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 16-31
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, // 32-47
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, // 48-63
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, // 64-79
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, // 80-95
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, // 96-111
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, // 112-127
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30, // EOS
];

/** The EOS symbol: it never appears in a string, its prefix pads the last byte. */
const EOS = 256;
/** The longest code, in bits. */
const MAX_CODE_BITS = 30;

/** Per code length: the first code of that length and its symbols in code order. */
interface CodeLevel {
  first: number;
  symbols: number[];
}

/** Builds the canonical code from the lengths: per length, its first code and symbols. */
function buildLevels(): (CodeLevel | undefined)[] {
  const levels: (CodeLevel | undefined)[] = new Array(MAX_CODE_BITS + 1).fill(undefined);
  const order = [...CODE_LENGTHS.keys()].sort((a, b) => CODE_LENGTHS[a] - CODE_LENGTHS[b] || a - b);
  let code = 0;
  let length = CODE_LENGTHS[order[0]];
  for (const symbol of order) {
    code *= 2 ** (CODE_LENGTHS[symbol] - length);
    length = CODE_LENGTHS[symbol];
    levels[length] ??= { first: code, symbols: [] };
    levels[length]!.symbols.push(symbol);
    code++;
  }
  return levels;
}

const LEVELS = buildLevels();

/**
 * Decodes a Huffman-coded string.
 *
 * @throws {TypeError} for an EOS symbol inside the string, or padding that is longer than 7
 * bits or not all ones (RFC 7541 §5.2 makes both errors). The code is complete, so every other
 * bit string decodes.
 */
export function huffmanDecode(bytes: Uint8Array): Uint8Array {
  // Every symbol takes at least 5 bits, so the output is at most 8/5 of the input.
  const out = new Uint8Array(Math.ceil(bytes.length * 8 / 5));
  let written = 0;
  let code = 0;
  let bits = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      bits++;
      const level = LEVELS[bits];
      if (level !== undefined) {
        const index = code - level.first;
        if (index >= 0 && index < level.symbols.length) {
          const symbol = level.symbols[index];
          if (symbol === EOS) {
            throw new TypeError("Cannot decode Huffman string: it contains the EOS symbol");
          }
          out[written++] = symbol;
          code = 0;
          bits = 0;
        }
      }
    }
  }
  if (bits > 7 || code !== 2 ** bits - 1) {
    throw new TypeError(
      `Cannot decode Huffman string: its ${bits} padding bits are not a prefix of EOS`,
    );
  }
  return out.subarray(0, written);
}
