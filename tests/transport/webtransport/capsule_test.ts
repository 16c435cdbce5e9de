import assert from "node:assert/strict";
import {
  CapsuleParser,
  encodeCloseCapsule,
  MAX_CLOSE_REASON_BYTES,
} from "../../../src/transport/webtransport/capsule.ts";
import { encodeVarint } from "../../../src/transport/webtransport/varint.ts";

Deno.test("a close capsule carries a 32-bit code and a UTF-8 reason", () => {
  const capsule = encodeCloseCapsule(4000, "heartbeat timeout");
  // Type 0x2843 as a two-byte varint, the length, then the code big-endian.
  assert.deepEqual([...capsule.subarray(0, 7)], [0x68, 0x43, 21, 0, 0, 0x0f, 0xa0]);
  assert.deepEqual(new CapsuleParser().push(capsule), { code: 4000, reason: "heartbeat timeout" });
  assert.deepEqual(new CapsuleParser().push(encodeCloseCapsule(0xffffffff, "")), {
    code: 0xffffffff,
    reason: "",
  });
  assert.throws(() => encodeCloseCapsule(2 ** 32, ""), RangeError);
  assert.throws(() => encodeCloseCapsule(-1, ""), RangeError);
});

Deno.test("a close reason over 1024 bytes is cut at a character boundary", () => {
  const reason = "é".repeat(600); // 1,200 bytes of two-byte characters
  const close = new CapsuleParser().push(encodeCloseCapsule(4505, reason))!;
  assert.equal(close.reason, "é".repeat(512));
  assert.equal(new TextEncoder().encode(close.reason).length, MAX_CLOSE_REASON_BYTES);
});

Deno.test("the capsule parser takes capsules split anywhere and skips unknown ones", () => {
  const unknown = new Uint8Array([...encodeVarint(0x78ae), 3, 1, 2, 3]); // DRAIN, say
  const stream = new Uint8Array([...unknown, ...encodeCloseCapsule(4505, "kicked")]);
  for (let split = 0; split <= stream.length; split++) {
    const parser = new CapsuleParser();
    const first = parser.push(stream.subarray(0, split));
    const close = first ?? parser.push(stream.subarray(split));
    assert.deepEqual(close, { code: 4505, reason: "kicked" }, `split at ${split}`);
  }
  const bytewise = new CapsuleParser();
  let close;
  for (const byte of stream) close ??= bytewise.push(new Uint8Array([byte]));
  assert.deepEqual(close, { code: 4505, reason: "kicked" });
});

Deno.test("the capsule parser refuses a close too short for its code or too long for its limit", () => {
  const header = (length: number) =>
    new Uint8Array([...encodeVarint(0x2843), ...encodeVarint(length)]);
  assert.throws(() => new CapsuleParser().push(header(3)), /outside 4\.\.1028/);
  assert.throws(() => new CapsuleParser().push(header(1029)), /outside 4\.\.1028/);
  // An unknown capsule may be long: it is skipped, never kept.
  const parser = new CapsuleParser();
  assert.equal(
    parser.push(new Uint8Array([...encodeVarint(0x1234), ...encodeVarint(1_000_000)])),
    undefined,
  );
  assert.equal(parser.push(new Uint8Array(999_999)), undefined);
  assert.deepEqual(parser.push(new Uint8Array([0, ...encodeCloseCapsule(1000, "")])), {
    code: 1000,
    reason: "",
  });
});
