import assert from "node:assert/strict";
import { huffmanDecode } from "../../../src/transport/webtransport/huffman.ts";

const hex = (text: string) =>
  Uint8Array.from(text.replaceAll(" ", "").match(/../g)!, (h) => parseInt(h, 16));
const decode = (text: string) => new TextDecoder().decode(huffmanDecode(hex(text)));

Deno.test("Huffman decoding matches RFC 7541's examples", () => {
  // RFC 7541 C.4 and C.6 (request and response examples with Huffman coding).
  assert.equal(decode("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), "www.example.com");
  assert.equal(decode("a8eb 1064 9cbf"), "no-cache");
  assert.equal(decode("25a8 49e9 5ba9 7d7f"), "custom-key");
  assert.equal(decode("25a8 49e9 5bb8 e8b4 bf"), "custom-value");
  assert.equal(decode("6402"), "302");
  assert.equal(decode("aec3 771a 4b"), "private");
  assert.equal(
    decode("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
    "Mon, 21 Oct 2013 20:13:21 GMT",
  );
  assert.equal(decode("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"), "https://www.example.com");
});

/** Packs one code of `bits` bits, then pads with ones to a whole byte, as an encoder does. */
function packed(code: number, bits: number): Uint8Array {
  const total = Math.ceil(bits / 8) * 8;
  let value = BigInt(code) << BigInt(total - bits);
  value |= (1n << BigInt(total - bits)) - 1n;
  return Uint8Array.from(
    { length: total / 8 },
    (_, i) => Number((value >> BigInt(total - 8 * (i + 1))) & 0xffn),
  );
}

Deno.test("Huffman decoding knows codes of every length RFC 7541 Appendix B lists", () => {
  // [symbol, code, bits] as printed in Appendix B.
  const codes: Array<[number, number, number]> = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [9, 0xffffea, 24],
    [10, 0x3ffffffc, 30],
    [22, 0x3ffffffe, 30],
    [32, 0x14, 6],
    [48, 0x0, 5],
    [58, 0x5c, 7],
    [60, 0x7ffc, 15],
    [92, 0x7fff0, 19],
    [97, 0x3, 5],
    [123, 0x7ffe, 15],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [135, 0x7fffd9, 23],
    [192, 0x3ffffe0, 26],
    [199, 0x1ffffec, 25],
    [203, 0x7ffffde, 27],
    [220, 0xffffffd, 28],
    [255, 0x3ffffee, 26],
  ];
  for (const [symbol, code, bits] of codes) {
    assert.deepEqual([...huffmanDecode(packed(code, bits))], [symbol], `symbol ${symbol}`);
  }
});

Deno.test("Huffman decoding refuses EOS in the string and padding that is not EOS", () => {
  assert.throws(() => huffmanDecode(packed(0x3fffffff, 30)), /EOS symbol/);
  assert.throws(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe")), /padding/);
  // A whole byte of padding (eight ones) is more than the seven RFC 7541 allows.
  assert.throws(() => huffmanDecode(hex("6402 ff")), /padding/);
  assert.deepEqual(huffmanDecode(new Uint8Array()), new Uint8Array());
});
