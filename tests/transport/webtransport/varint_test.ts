import assert from "node:assert/strict";
import {
  encodeVarint,
  readVarint,
  varintLength,
} from "../../../src/transport/webtransport/varint.ts";

Deno.test("varints encode and decode RFC 9000's examples", () => {
  // RFC 9000 Appendix A.1.
  const examples: Array<[string, number]> = [
    ["c2197c5eff14e88c", 151_288_809_941_952_652],
    ["9d7f3e7d", 494_878_333],
    ["7bbd", 15_293],
    ["25", 37],
  ];
  for (const [hex, value] of examples) {
    const bytes = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
    assert.deepEqual(readVarint(bytes, 0), { value, next: bytes.length });
    if (value <= Number.MAX_SAFE_INTEGER) assert.deepEqual(encodeVarint(value), bytes);
  }
  // The two-byte encoding of 37 decodes too (A.1: "40 25").
  assert.deepEqual(readVarint(new Uint8Array([0x40, 0x25]), 0), { value: 37, next: 2 });
});

Deno.test("varint lengths switch at 2^6, 2^14 and 2^30", () => {
  for (const [value, length] of [[63, 1], [64, 2], [16_383, 2], [16_384, 4], [2 ** 30 - 1, 4]]) {
    assert.equal(varintLength(value), length);
    assert.equal(encodeVarint(value).length, length);
    assert.equal(readVarint(encodeVarint(value), 0)!.value, value);
  }
  assert.equal(varintLength(2 ** 30), 8);
  assert.equal(readVarint(encodeVarint(2 ** 40 + 5), 0)!.value, 2 ** 40 + 5);
});

Deno.test("a varint cut short reads as undefined; bad values do not encode", () => {
  assert.equal(readVarint(new Uint8Array([0x9d, 0x7f, 0x3e]), 0), undefined);
  assert.equal(readVarint(new Uint8Array([]), 0), undefined);
  assert.throws(() => encodeVarint(-1), RangeError);
  assert.throws(() => encodeVarint(1.5), RangeError);
  assert.throws(() => encodeVarint(2 ** 62), RangeError);
});
