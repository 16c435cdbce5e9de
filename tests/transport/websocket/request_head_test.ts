import assert from "node:assert/strict";
import {
  type RequestHead,
  RequestHeadError,
  RequestHeadParser,
} from "../../../src/transport/websocket/request_head.ts";

const HEAD = "GET /ws?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nX-Multi: a\r\nx-multi:  b \r\n\r\n";

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds `input` in chunks of `size`; returns the head, the bytes after it, and the chunks used. */
function feed(
  input: Uint8Array,
  size: number,
  maxHeadBytes?: number,
): { head: RequestHead | undefined; rest: number[]; chunks: number } {
  const parser = new RequestHeadParser({ maxHeadBytes });
  for (let at = 0, chunks = 1; at < input.length; at += size, chunks++) {
    const head = parser.push(input.slice(at, at + size));
    if (head) return { head, rest: [...parser.rest], chunks };
  }
  return { head: undefined, rest: [], chunks: Math.ceil(input.length / size) };
}

function statusOf(input: string | Uint8Array, maxHeadBytes?: number, size?: number): number {
  const data = typeof input === "string" ? bytes(input) : input;
  try {
    feed(data, size ?? data.length, maxHeadBytes);
  } catch (error) {
    assert.ok(error instanceof RequestHeadError, String(error));
    return error.status;
  }
  return 0;
}

Deno.test("RequestHeadParser returns method, target, version and lower-cased headers", () => {
  const { head } = feed(bytes(HEAD), 1_000);
  assert.ok(head);
  assert.equal(head.method, "GET");
  assert.equal(head.target, "/ws?room=1");
  assert.equal(head.version, "HTTP/1.1");
  assert.equal(head.headers.get("host"), "example.com");
  assert.equal(head.headers.get("connection"), "Upgrade");
  assert.equal(head.headers.get("x-multi"), "a, b");
});

Deno.test("RequestHeadParser takes a head one byte at a time, as a slowloris sends it", () => {
  const { head, chunks } = feed(bytes(HEAD), 1);
  assert.equal(chunks, HEAD.length);
  assert.equal(head?.headers.get("upgrade"), "websocket");
  for (const size of [2, 3, 7, 50]) assert.ok(feed(bytes(HEAD), size).head, `chunks of ${size}`);
});

Deno.test("RequestHeadParser hands back the bytes that follow the head", () => {
  const frame = [0x81, 0x80, 1, 2, 3, 4];
  const input = new Uint8Array([...bytes(HEAD), ...frame]);
  assert.deepEqual(feed(input, input.length).rest, frame);
  // The blank line and the frame split across chunks.
  assert.deepEqual(feed(input, HEAD.length - 1).rest, frame);
  // Only the completing chunk's bytes after the head: later chunks are the caller's.
  assert.deepEqual(feed(input, HEAD.length + 2).rest, frame.slice(0, 2));
  assert.deepEqual(feed(input, 1).rest, []);
});

Deno.test("RequestHeadParser refuses a head over maxHeadBytes with 431", () => {
  const big = `GET / HTTP/1.1\r\nX-Pad: ${"p".repeat(9_000)}\r\n\r\n`;
  assert.equal(statusOf(big), 431);
  assert.equal(statusOf(big, undefined, 1), 431);
  assert.equal(statusOf(big, undefined, 100), 431);
  // No blank line ever: refused once the limit is crossed, not kept growing.
  assert.equal(statusOf(`GET / HTTP/1.1\r\nX-Pad: ${"p".repeat(300)}`, 256, 10), 431);
  // Exactly at the limit is fine.
  assert.equal(statusOf(HEAD, HEAD.length), 0);
  assert.equal(statusOf(HEAD, HEAD.length, 1), 0);
  assert.equal(statusOf(HEAD, HEAD.length - 1), 431);
  assert.equal(statusOf(HEAD, HEAD.length - 1, 1), 431);
});

Deno.test("RequestHeadParser refuses malformed heads with 400", () => {
  const cases = [
    "GET / HTTP/1.1\nHost: x\n\n", // bare LF
    "GET / HTTP/1.1\r\nHost: x\n\r\n",
    "\r\nGET / HTTP/1.1\r\n\r\n", // empty first line
    "GET /  HTTP/1.1\r\n\r\n", // two spaces
    "GET / HTTP/2.0\r\n\r\n",
    "GET / http/1.1\r\n\r\n",
    "GET /\r\n\r\n",
    "G(T / HTTP/1.1\r\n\r\n",
    "GET /a\x7fb HTTP/1.1\r\n\r\n",
    "GET / HTTP/1.1\r\nHost : x\r\n\r\n", // space before the colon
    "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", // obs-fold
    "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
    "GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
    "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", // a TLS hello
  ];
  for (const input of cases) {
    assert.equal(statusOf(input), 400, JSON.stringify(input));
    assert.equal(statusOf(input, undefined, 1), 400, `${JSON.stringify(input)} byte by byte`);
  }
});

Deno.test("RequestHeadParser refuses a maxHeadBytes below 16", () => {
  assert.throws(() => new RequestHeadParser({ maxHeadBytes: 8 }), RangeError);
});
