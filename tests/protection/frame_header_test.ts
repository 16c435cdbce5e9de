/**
 * A client announces a single 60 MiB frame (limit 64 KiB) and sends only its header and a
 * little of it. The `gateway` engine answers 1009 from the header alone; `deno` waits for the
 * whole frame (up to 64 MiB) before anything is checked.
 */
import assert from "node:assert/strict";
import { encodeFrame, RawWebSocket } from "../_raw_websocket.ts";
import { MiB, residentBytes, startTarget } from "./_attack.ts";

const TEXT = 0x1;

/** The header of a 60 MiB text frame and its first KiB. */
function bigFrameStart(): Uint8Array {
  return encodeFrame(TEXT, new Uint8Array(1024).fill(0x61), { announcedLength: 60 * MiB });
}

Deno.test("gateway engine: a 60 MiB frame header is answered with 1009 at once, without reading the body", async () => {
  await using target = await startTarget("gateway");
  const before = await residentBytes(target.metrics);
  const raw = await RawWebSocket.connect(target.websocket, "/ws");
  try {
    const started = performance.now();
    await raw.write(bigFrameStart());
    const close = await raw.readClose(1_000);
    assert.equal(close.code, 1009);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1_000, `closed after ${elapsed.toFixed(0)} ms`);
    const growth = (await residentBytes(target.metrics)) - before;
    assert.ok(growth < 16 * MiB, `resident memory grew ${(growth / MiB).toFixed(1)} MiB`);
  } finally {
    raw.close();
  }
});

Deno.test("deno engine: a 60 MiB frame header gets no answer while its body is missing", async () => {
  await using target = await startTarget("deno");
  const raw = await RawWebSocket.connect(target.websocket, "/ws");
  try {
    await raw.write(bigFrameStart());
    // Deno's documented limit: it reads up to 64 MiB of a frame before the gateway sees it.
    await assert.rejects(raw.readClose(1_000), /Timed out/);
  } finally {
    raw.close();
  }
});
