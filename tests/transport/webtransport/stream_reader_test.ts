import assert from "node:assert/strict";
import {
  StreamReader,
  TruncatedStreamError,
} from "../../../src/transport/webtransport/stream_reader.ts";

/** A byte stream that delivers `chunks` one by one, as the network would. */
function byteStream(chunks: number[][]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (next === chunks.length) {
        // A byte stream that closes under a pending BYOB read must answer it with 0 bytes.
        controller.close();
        return controller.byobRequest?.respond(0);
      }
      controller.enqueue(new Uint8Array(chunks[next++]));
    },
  });
}

Deno.test("StreamReader reads a stream header exactly and leaves the rest for the next reader", async () => {
  // A WebTransport stream header (0x41 as a two-byte varint, session 0), then app bytes.
  const stream = byteStream([[0x40], [0x41, 0x00, 1, 2], [3]]);
  const reader = new StreamReader(stream);
  assert.equal(await reader.varint(), 0x41);
  assert.equal(await reader.varint(), 0);
  reader.release();
  const rest: number[] = [];
  for await (const chunk of stream) rest.push(...chunk);
  assert.deepEqual(rest, [1, 2, 3]);
});

Deno.test("StreamReader tells a clean end from a field cut short", async () => {
  assert.equal(await new StreamReader(byteStream([])).varint(), null);
  await assert.rejects(new StreamReader(byteStream([[0x80, 0x01]])).varint(), TruncatedStreamError);
  const reader = new StreamReader(byteStream([[1, 2], [3]]));
  assert.deepEqual([...await reader.bytes(3, "three bytes")], [1, 2, 3]);
  await assert.rejects(
    new StreamReader(byteStream([[1]])).bytes(2, "two bytes"),
    /Cannot read two bytes: the stream ended inside it/,
  );
});
