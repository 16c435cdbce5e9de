import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder } from "../../src/client/_length_prefix.ts";

Deno.test("encodeFrame writes a 4-byte big-endian length and the UTF-8 payload", () => {
  assert.deepEqual(
    [...encodeFrame(`{"type":"ping"}`).subarray(0, 5)],
    [0x00, 0x00, 0x00, 0x0f, 0x7b],
  );
  assert.equal(encodeFrame("é").length, 4 + 2);
});

Deno.test("FrameDecoder splits frames across and within chunks, byte by byte too", () => {
  const texts = ["a", `{"type":"push","data":"ü"}`, "x".repeat(300)];
  const bytes = new Uint8Array(texts.flatMap((text) => [...encodeFrame(text)]));
  const whole = new FrameDecoder(1_000);
  assert.deepEqual(whole.push(bytes), texts);
  assert.equal(whole.pending, false);
  const trickle = new FrameDecoder(1_000);
  const got: string[] = [];
  for (const byte of bytes) got.push(...trickle.push(new Uint8Array([byte])));
  assert.deepEqual(got, texts);
});

Deno.test("FrameDecoder refuses a zero or oversized length from the header alone", () => {
  assert.throws(() => new FrameDecoder(10).push(new Uint8Array([0, 0, 0, 0])), RangeError);
  assert.throws(() => new FrameDecoder(10).push(new Uint8Array([0, 0, 0, 11])), /outside 1 to 10/);
  assert.throws(
    () => new FrameDecoder(10).push(new Uint8Array([0, 0, 0, 1, 0xff])),
    TypeError,
    "invalid UTF-8",
  );
});
