import assert from "node:assert/strict";
import { FrameParser, type FrameSink } from "../../../src/transport/websocket/frame_parser.ts";
import { FrameWriter, POOLED_OUTPUT_BYTES } from "../../../src/transport/websocket/frame_writer.ts";
import { clientFrame, concat, decodeServerFrames } from "./_frames.ts";

const TEXTS = [
  "",
  "a",
  "x".repeat(125),
  "x".repeat(126),
  "x".repeat(65_535),
  "x".repeat(65_536),
  "é".repeat(100), // 100 units, 200 bytes: the header grows from 2 to 4 bytes
  "€".repeat(42), // 42 units, 126 bytes
  "€".repeat(21_846), // 21,846 units, 65,538 bytes: the header grows from 4 to 10 bytes
  "𝄞 surrogate pairs 𝄞",
  "ascii then ü",
];

function written(write: (writer: FrameWriter) => void): Uint8Array {
  const writer = new FrameWriter();
  write(writer);
  return writer.take()!.slice();
}

Deno.test("FrameWriter encodes text of every header size, ASCII or not", () => {
  for (const text of TEXTS) {
    const frames = decodeServerFrames(written((w) => w.text(text)));
    assert.equal(frames.length, 1);
    assert.equal(frames[0].opcode, 1);
    assert.equal(frames[0].fin, true);
    assert.equal(new TextDecoder().decode(frames[0].payload), text, `${text.length} units`);
  }
});

Deno.test("FrameWriter encodes binary, ping, pong and close frames", () => {
  const bytes = written((w) => {
    w.binary(new Uint8Array([1, 2, 3]));
    w.binary(new Uint8Array(70_000).fill(7));
    w.ping(new Uint8Array([9]));
    w.pong();
    w.close(4001, "bye");
    w.close();
  });
  const frames = decodeServerFrames(bytes);
  assert.deepEqual(frames.map((f) => f.opcode), [2, 2, 9, 10, 8, 8]);
  assert.deepEqual([...frames[0].payload], [1, 2, 3]);
  assert.equal(frames[1].payload.length, 70_000);
  assert.deepEqual([...frames[2].payload], [9]);
  assert.equal(frames[3].payload.length, 0);
  assert.deepEqual([...frames[4].payload], [0x0f, 0xa1, ...new TextEncoder().encode("bye")]);
  assert.equal(frames[5].payload.length, 0);
});

Deno.test("FrameWriter puts many frames into one buffer, in order", () => {
  const writer = new FrameWriter();
  for (let i = 0; i < 1_000; i++) writer.text(`message ${i}`);
  const length = writer.length;
  const bytes = writer.take()!;
  assert.equal(bytes.length, length);
  assert.equal(writer.length, 0);
  assert.equal(writer.take(), undefined);
  const frames = decodeServerFrames(bytes);
  assert.equal(frames.length, 1_000);
  assert.equal(new TextDecoder().decode(frames[999].payload), "message 999");
});

Deno.test("FrameWriter output survives a round trip through a client and the server parser", () => {
  // Server frames, decoded, re-sent masked as a client would, parsed by the server parser.
  const bytes = written((w) => {
    for (const text of TEXTS) w.text(text);
    w.binary(new Uint8Array([0, 255]));
    w.ping(new Uint8Array([1]));
  });
  const resent = concat(
    ...decodeServerFrames(bytes).map((f) => clientFrame({ opcode: f.opcode, payload: f.payload })),
  );
  const got: unknown[] = [];
  const sink: FrameSink = {
    onText: (text) => got.push(text),
    onBinary: (b) => got.push([...b]),
    onPing: (p) => got.push(["ping", ...p]),
    onPong: () => got.push("pong"),
    onClose: () => got.push("close"),
    onFault: (code, message) => got.push(["fault", code, message]),
  };
  new FrameParser(sink, { maxMessageBytes: 1 << 20 }).push(resent);
  assert.deepEqual(got, [...TEXTS, [0, 255], ["ping", 1]]);
});

Deno.test("FrameWriter reuses pooled buffers that come back", () => {
  const first = new FrameWriter();
  first.text("hello");
  const bytes = first.take()!;
  assert.equal(bytes.buffer.byteLength, POOLED_OUTPUT_BYTES);
  const second = new FrameWriter();
  second.text("not yet");
  assert.notEqual(second.take()!.buffer, bytes.buffer, "a buffer out for writing is not reused");
  first.recycleTaken();
  const third = new FrameWriter();
  third.text("again");
  assert.equal(third.take()!.buffer, bytes.buffer);
});

Deno.test("FrameWriter refuses control frames and close reasons over the RFC limits", () => {
  const writer = new FrameWriter();
  assert.throws(() => writer.ping(new Uint8Array(126)), RangeError);
  assert.throws(() => writer.pong(new Uint8Array(126)), RangeError);
  assert.throws(() => writer.close(1000, "x".repeat(124)), RangeError);
  assert.throws(() => writer.close(1000, "é".repeat(62)), RangeError); // 124 bytes
  for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
    assert.throws(() => writer.close(code), RangeError, `code ${code}`);
  }
  assert.throws(() => writer.close(undefined, "reason"), RangeError);
  assert.equal(writer.length, 0);
  writer.close(1000, "x".repeat(123));
  assert.equal(decodeServerFrames(writer.take()!)[0].payload.length, 125);
});
