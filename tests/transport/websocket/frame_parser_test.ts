import assert from "node:assert/strict";
import {
  FrameParser,
  type FrameParserOptions,
  type FrameSink,
} from "../../../src/transport/websocket/frame_parser.ts";
import { clientFrame, closePayload, concat, OP } from "./_frames.ts";

type Event =
  | ["text", string]
  | ["binary", string]
  | ["ping", string]
  | ["pong", string]
  | ["close", number, string]
  | ["fault", number, string];

/** Bytes as hex: copies a view as the sink contract requires, and compares cheaply. */
function hex(bytes: Uint8Array | number[]): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Records what the parser reports. */
class Recorder implements FrameSink {
  events: Event[] = [];
  /** Each text message's size in UTF-8, as the parser reported it. */
  textBytes: number[] = [];
  onText(text: string, bytes: number) {
    this.events.push(["text", text]);
    this.textBytes.push(bytes);
  }
  onBinary(bytes: Uint8Array) {
    this.events.push(["binary", hex(bytes)]);
  }
  onPing(payload: Uint8Array) {
    this.events.push(["ping", hex(payload)]);
  }
  onPong(payload: Uint8Array) {
    this.events.push(["pong", hex(payload)]);
  }
  onClose(code: number, reason: string) {
    this.events.push(["close", code, reason]);
  }
  onFault(closeCode: number, message: string) {
    this.events.push(["fault", closeCode, message]);
  }
}

/**
 * Feeds `bytes` in chunks of `chunkSize` through one reused read buffer that is scribbled over
 * after each push, as a read loop reuses its buffer: a view the parser kept would show garbage.
 */
function parse(
  bytes: Uint8Array,
  chunkSize = bytes.length || 1,
  options?: FrameParserOptions,
): { events: Event[]; parser: FrameParser } {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, options);
  const buffer = new Uint8Array(chunkSize + 3);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const chunk = bytes.subarray(at, at + chunkSize);
    const offset = at % 4; // vary the alignment the unmasking sees
    buffer.set(chunk, offset);
    parser.push(buffer.subarray(offset), chunk.length);
    buffer.fill(0xee);
  }
  return { events: recorder.events, parser };
}

/** Each event's kind and first value (a fault's close code). */
function head(events: Event[]): unknown[][] {
  return events.map((event) => event.slice(0, 2));
}

function faultOf(bytes: Uint8Array, options?: FrameParserOptions): [number, string] {
  const { events } = parse(bytes, undefined, options);
  const fault = events.find((event) => event[0] === "fault");
  assert.ok(fault, `expected a fault, got ${JSON.stringify(events)}`);
  return [fault[1] as number, fault[2] as string];
}

const text = (payload: string | Uint8Array, fin = true) =>
  clientFrame({ opcode: OP.text, payload, fin });
const more = (payload: string | Uint8Array, fin = true) =>
  clientFrame({ opcode: OP.continuation, payload, fin });

Deno.test("FrameParser reports text, binary, ping, pong and close frames", () => {
  const bytes = concat(
    text("hello"),
    clientFrame({ opcode: OP.binary, payload: new Uint8Array([1, 2, 3]) }),
    clientFrame({ opcode: OP.ping, payload: "p" }),
    clientFrame({ opcode: OP.pong, payload: "q" }),
    text(""),
    clientFrame({ opcode: OP.close, payload: closePayload(1000, "bye") }),
  );
  assert.deepEqual(parse(bytes).events, [
    ["text", "hello"],
    ["binary", hex([1, 2, 3])],
    ["ping", hex([112])],
    ["pong", hex([113])],
    ["text", ""],
    ["close", 1000, "bye"],
  ]);
});

Deno.test("FrameParser parses every frame of a chunk that holds many", () => {
  const frames = Array.from({ length: 500 }, (_, i) => text(`message ${i}`));
  const { events } = parse(concat(...frames));
  assert.equal(events.length, 500);
  assert.deepEqual(events[499], ["text", "message 499"]);
});

Deno.test("FrameParser gives the same messages for every chunk size down to one byte", () => {
  const random = new Uint8Array(70_000).map((_, i) => (i * 7919) & 0xff);
  const bytes = concat(
    text("short"),
    text("x".repeat(200)), // 16-bit length
    clientFrame({ opcode: OP.binary, payload: random }), // 64-bit length
    text("frag-", false),
    clientFrame({ opcode: OP.ping, payload: "between" }),
    more("ment"),
    clientFrame({ opcode: OP.ping }),
    text("é€𝄞"),
  );
  const options = { maxMessageBytes: 1 << 20 };
  const expected = parse(bytes, undefined, options).events;
  assert.equal(expected.length, 7);
  assert.deepEqual(expected[2], ["binary", hex(random)]);
  for (const size of [1, 2, 3, 5, 7, 13, 64, 1000, 4096]) {
    assert.deepEqual(parse(bytes, size, options).events, expected, `chunks of ${size} bytes`);
  }
});

Deno.test("FrameParser reassembles fragmented text with a code point split across fragments", () => {
  const bytes = new TextEncoder().encode("a€b𝄞c"); // € is 3 bytes, 𝄞 is 4
  const fragments = concat(
    text(bytes.subarray(0, 2), false), // "a" and the first byte of €
    more(bytes.subarray(2, 6), false), // the rest of €, "b", the first byte of 𝄞
    more(bytes.subarray(6, 9), false),
    more(bytes.subarray(9)),
  );
  for (const size of [1, 4, fragments.length]) {
    assert.deepEqual(parse(fragments, size).events, [["text", "a€b𝄞c"]]);
  }
});

Deno.test("FrameParser reports control frames that arrive between fragments, in order", () => {
  const bytes = concat(
    clientFrame({ opcode: OP.binary, payload: new Uint8Array([1]), fin: false }),
    clientFrame({ opcode: OP.ping, payload: "1" }),
    more(new Uint8Array([2]), false),
    clientFrame({ opcode: OP.pong, payload: "2" }),
    more(new Uint8Array([3])),
  );
  assert.deepEqual(parse(bytes).events, [
    ["ping", hex([49])],
    ["pong", hex([50])],
    ["binary", hex([1, 2, 3])],
  ]);
});

Deno.test("FrameParser keeps a leading byte order mark in text", () => {
  assert.deepEqual(parse(text("\ufeffhi")).events, [["text", "\ufeffhi"]]);
});

Deno.test("FrameParser unmasks long payloads at every alignment", () => {
  for (let length = 30; length < 40; length++) {
    const payload = crypto.getRandomValues(new Uint8Array(length * 37));
    for (const size of [payload.length + 14, 1021]) {
      assert.deepEqual(
        parse(clientFrame({ opcode: OP.binary, payload }), size).events,
        [["binary", hex(payload)]],
      );
    }
  }
});

Deno.test("FrameParser refuses framing errors with 1002", () => {
  const cases: [string, Uint8Array][] = [
    ["an unmasked client frame", clientFrame({ opcode: OP.text, payload: "x", masked: false })],
    ["RSV1 set", clientFrame({ opcode: OP.text, payload: "x", rsv: 4 })],
    ["RSV3 set", clientFrame({ opcode: OP.text, payload: "x", rsv: 1 })],
    ["a control frame over 125 bytes", clientFrame({ opcode: OP.ping, payload: "x".repeat(126) })],
    ["a fragmented ping", clientFrame({ opcode: OP.ping, fin: false })],
    ["a fragmented close", clientFrame({ opcode: OP.close, fin: false })],
    ["a continuation without a start", more("x")],
    ["a text frame inside a fragmented message", concat(text("a", false), text("b"))],
    [
      "a binary frame inside a fragmented message",
      concat(text("a", false), clientFrame({ opcode: OP.binary })),
    ],
    [
      "a 64-bit length with the top bit set",
      clientFrame({ opcode: OP.binary, high32: 0x80000000, announcedLength: 1 }),
    ],
    ["a 1-byte close payload", clientFrame({ opcode: OP.close, payload: new Uint8Array([3]) })],
  ];
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    cases.push([`opcode ${opcode}`, clientFrame({ opcode })]);
  }
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
    cases.push([
      `close code ${code}`,
      clientFrame({ opcode: OP.close, payload: closePayload(code) }),
    ]);
  }
  for (const [name, bytes] of cases) {
    assert.equal(faultOf(bytes)[0], 1002, name);
  }
});

Deno.test("FrameParser accepts every close code a peer may send", () => {
  for (
    const code of [
      1000,
      1001,
      1002,
      1003,
      1007,
      1008,
      1009,
      1010,
      1011,
      1012,
      1013,
      1014,
      3000,
      4999,
    ]
  ) {
    const frame = clientFrame({ opcode: OP.close, payload: closePayload(code, "r") });
    assert.deepEqual(parse(frame).events, [["close", code, "r"]]);
  }
  assert.deepEqual(parse(clientFrame({ opcode: OP.close })).events, [["close", 1005, ""]]);
});

Deno.test("FrameParser refuses text that is not UTF-8 with 1007", () => {
  const bad = new Uint8Array([0x68, 0x69, 0xc0, 0xaf]); // "hi" and an overlong "/"
  assert.equal(faultOf(text(bad))[0], 1007);
  const reason = concat(closePayload(1000), new Uint8Array([0xff]));
  assert.equal(faultOf(clientFrame({ opcode: OP.close, payload: reason }))[0], 1007);
  // A message that ends inside a code point.
  const euro = new TextEncoder().encode("€");
  assert.equal(faultOf(concat(text(euro.subarray(0, 2), false), more("")))[0], 1007);
});

Deno.test("FrameParser fails on invalid UTF-8 in a fragment before the message ends", () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  parser.push(text("valid start", false));
  assert.deepEqual(recorder.events, []);
  parser.push(more(new Uint8Array([0x61, 0xff]), false)); // not final
  assert.deepEqual(head(recorder.events), [["fault", 1007]]);
});

Deno.test("FrameParser fails on invalid UTF-8 in a frame before its payload has arrived", () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder);
  const payload = new Uint8Array(1000).fill(0x61);
  payload[10] = 0xff;
  const frame = text(payload);
  parser.push(frame.subarray(0, 8 + 20)); // header (4 + mask 4) and 20 payload bytes
  assert.deepEqual(head(recorder.events), [["fault", 1007]]);
});

Deno.test("FrameParser refuses an oversize frame with 1009 from its header alone", () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, { maxMessageBytes: 1024 });
  // Only the header of a 100 MiB frame: the payload never needs to arrive.
  const header = clientFrame({ opcode: OP.binary, announcedLength: 100 * 1024 * 1024 });
  parser.push(header);
  assert.deepEqual(head(recorder.events), [["fault", 1009]]);
  assert.equal(parser.heldBytes, 0);
  assert.equal(parser.stopped, true);
  // 7-bit and 16-bit lengths too.
  assert.equal(faultOf(text("x".repeat(101)), { maxMessageBytes: 100 })[0], 1009);
  assert.equal(faultOf(text("x".repeat(2000)), { maxMessageBytes: 1999 })[0], 1009);
  assert.deepEqual(parse(text("x".repeat(2000)), 100, { maxMessageBytes: 2000 }).events, [
    ["text", "x".repeat(2000)],
  ]);
});

Deno.test("FrameParser refuses a fragmented message whose total crosses the limit", () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, { maxMessageBytes: 10_000 });
  const fragment = new Uint8Array(4_000);
  parser.push(clientFrame({ opcode: OP.binary, payload: fragment, fin: false }));
  parser.push(more(fragment, false));
  assert.deepEqual(recorder.events, []);
  assert.ok(parser.heldBytes <= 10_000, `held ${parser.heldBytes}`);
  // The third header announces 4,000 more: 12,000 in total, refused before its payload.
  parser.push(clientFrame({ opcode: OP.continuation, announcedLength: 4_000, fin: false }));
  assert.deepEqual(head(recorder.events), [["fault", 1009]]);
  assert.equal(parser.heldBytes, 0);
});

Deno.test("FrameParser keeps what has arrived of a frame, not what its header announces", () => {
  const recorder = new Recorder();
  const parser = new FrameParser(recorder, { maxMessageBytes: 60_000 });
  const frame = clientFrame({ opcode: OP.binary, payload: new Uint8Array(60_000) });
  parser.push(frame.subarray(0, 14 + 100));
  assert.ok(parser.heldBytes <= 1024 + 14, `held ${parser.heldBytes} bytes after 100 arrived`);
  parser.push(frame.subarray(114));
  assert.equal(recorder.events.length, 1);
  assert.equal(parser.heldBytes, 0);
});

Deno.test("FrameParser ignores everything after a close frame or a fault", () => {
  const afterClose = concat(clientFrame({ opcode: OP.close }), text("late"));
  assert.deepEqual(parse(afterClose).events, [["close", 1005, ""]]);
  const afterFault = concat(more("x"), text("late"));
  assert.deepEqual(parse(afterFault).events.map((e) => e[0]), ["fault"]);
});

Deno.test("FrameParser as a client refuses masked frames and reads unmasked ones", () => {
  const options = { masked: false };
  assert.equal(faultOf(text("x"), options)[0], 1002);
  const unmasked = clientFrame({ opcode: OP.text, payload: "server", masked: false });
  assert.deepEqual(parse(unmasked, undefined, options).events, [["text", "server"]]);
});

Deno.test("FrameParser stops at once when the sink stops it mid-chunk", () => {
  class Stopping extends Recorder {
    parser: FrameParser | undefined;
    override onText(text: string, bytes: number) {
      super.onText(text, bytes);
      this.parser!.stop();
    }
  }
  const recorder = new Stopping();
  const parser = new FrameParser(recorder);
  recorder.parser = parser;
  parser.push(concat(text("one"), text("two")));
  assert.deepEqual(recorder.events, [["text", "one"]]);
});

Deno.test("a text message reports its UTF-8 size as received, whole and fragmented", () => {
  const sink = new Recorder();
  const parser = new FrameParser(sink);
  const whole = text("héllo wörld €");
  parser.push(whole, whole.length);
  const fragmented = concat(
    text("é€", false),
    clientFrame({ opcode: OP.continuation, payload: "😀" }),
  );
  parser.push(fragmented, fragmented.length);
  assert.deepEqual(sink.events, [["text", "héllo wörld €"], ["text", "é€😀"]]);
  assert.deepEqual(sink.textBytes, [17, 9]);
});
