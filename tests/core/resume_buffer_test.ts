import assert from "node:assert/strict";
import { ResumeBuffer } from "../../src/core/resume_buffer.ts";
import { utf8ByteLength } from "../../src/core/protocol.ts";

const LIMITS = { maxBytes: 1_000, maxMessages: 4 };

function push(n: number | string): string {
  return `{"type":"push","route":"r","data":"${n}"}`;
}

function append(buffer: ResumeBuffer, text: string): string | undefined {
  return buffer.append(text, utf8ByteLength(text));
}

Deno.test("ResumeBuffer stamps seq after the opening brace and keeps the exact text", () => {
  const buffer = new ResumeBuffer(LIMITS, "s");
  assert.equal(append(buffer, push(1)), `{"seq":1,"type":"push","route":"r","data":"1"}`);
  assert.equal(append(buffer, '{"type":"response","id":3}'), '{"seq":2,"type":"response","id":3}');
  assert.equal(buffer.seq, 2);
  assert.deepEqual(buffer.after(0)?.map((t) => JSON.parse(t).seq), [1, 2]);
  assert.deepEqual(buffer.after(1), ['{"seq":2,"type":"response","id":3}']);
  assert.deepEqual(buffer.after(2), []);
  assert.equal(buffer.bytes, utf8ByteLength(buffer.after(0)!.join("")));
});

Deno.test("ResumeBuffer keeps the latest messages of a live session within its bounds", () => {
  const buffer = new ResumeBuffer(LIMITS, "s");
  for (let i = 1; i <= 10; i++) assert.ok(append(buffer, push(i)));
  assert.equal(buffer.length, 4);
  assert.deepEqual(buffer.after(6)?.map((t) => JSON.parse(t).seq), [7, 8, 9, 10]);
  assert.equal(buffer.after(5), undefined, "older than the oldest kept: a gap");
  assert.equal(buffer.after(11), undefined, "newer than the last sent");
  const big = new ResumeBuffer({ maxBytes: 200, maxMessages: 100 }, "s");
  for (let i = 1; i <= 10; i++) append(big, push(i));
  assert.ok(big.bytes <= 200);
  assert.equal(big.after(10 - big.length)?.length, big.length);
});

Deno.test("ResumeBuffer overflows once detached rather than drop a message the client has not seen", () => {
  const buffer = new ResumeBuffer(LIMITS, "s");
  for (let i = 1; i <= 3; i++) append(buffer, push(i));
  buffer.detach();
  // Messages from before the detach may go to make room: the client may have them.
  assert.ok(append(buffer, push(4)));
  assert.ok(append(buffer, push(5)));
  assert.ok(append(buffer, push(6)));
  assert.ok(append(buffer, push(7)));
  assert.deepEqual(buffer.after(3)?.map((t) => JSON.parse(t).seq), [4, 5, 6, 7]);
  assert.equal(append(buffer, push(8)), undefined, "would drop seq 4, unseen");
  buffer.attach();
  assert.ok(append(buffer, push(8)));
});

Deno.test("ResumeBuffer skips a message larger than its bound while live, and overflows detached", () => {
  const buffer = new ResumeBuffer({ maxBytes: 100, maxMessages: 16 }, "s");
  append(buffer, push(1));
  const huge = push("x".repeat(200));
  assert.ok(append(buffer, huge)?.startsWith('{"seq":2,'));
  assert.equal(buffer.length, 0);
  assert.equal(buffer.after(1), undefined, "the huge one is not kept");
  assert.deepEqual(buffer.after(2), []);
  buffer.detach();
  assert.equal(append(buffer, huge), undefined);
});

Deno.test("ResumeBuffer trims what the client has and grows its ring as needed", () => {
  const buffer = new ResumeBuffer({ maxBytes: 100_000, maxMessages: 100 }, "s");
  for (let i = 1; i <= 50; i++) append(buffer, push(i));
  buffer.trimThrough(45);
  assert.deepEqual(buffer.after(45)?.map((t) => JSON.parse(t).seq), [46, 47, 48, 49, 50]);
  assert.equal(buffer.after(44), undefined);
  for (let i = 51; i <= 200; i++) append(buffer, push(i));
  assert.equal(buffer.length, 100);
  assert.equal(JSON.parse(buffer.after(100)![0]).seq, 101);
});

Deno.test("ResumeBuffer.restore rebuilds another node's buffer, and holding keeps pushes aside", () => {
  const source = new ResumeBuffer(LIMITS, "s");
  for (let i = 1; i <= 3; i++) append(source, push(i));
  const restored = ResumeBuffer.restore(LIMITS, "t", 1, 3, source.after(1)!)!;
  assert.equal(restored.seq, 3);
  assert.deepEqual(restored.after(1), source.after(1));
  assert.equal(append(restored, push(4))?.startsWith('{"seq":4,'), true);
  assert.throws(() => ResumeBuffer.restore(LIMITS, "t", 0, 3, ["{}"]), RangeError);
  assert.equal(
    ResumeBuffer.restore({ maxBytes: 1_000, maxMessages: 1 }, "t", 1, 3, source.after(1)!),
    undefined,
    "more than this node keeps",
  );
  assert.throws(() => ResumeBuffer.restore(LIMITS, "t", 0, 2, source.after(1)!), RangeError);

  const holding = ResumeBuffer.holding(LIMITS, "h");
  assert.equal(holding.holding, true);
  for (let i = 1; i <= 4; i++) holding.hold({ text: push(i), unreliable: false });
  assert.deepEqual(holding.releaseHeld().pushes.length, 4);
  assert.equal(holding.holding, false);
  const full = ResumeBuffer.holding(LIMITS, "h");
  for (let i = 1; i <= 5; i++) full.hold({ text: push(i), unreliable: false });
  assert.deepEqual(full.releaseHeld(), { pushes: [], overflowed: true });
});
