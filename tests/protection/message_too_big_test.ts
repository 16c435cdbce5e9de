/**
 * A client sends one huge message in fragments. The `gateway` engine closes with 1009 once the
 * running total passes `protocol.max_message_bytes`, before buffering more; `deno` reassembles
 * the whole message first (Deno issue #15809), so it is attacked with 8 MiB only.
 */
import assert from "node:assert/strict";
import { encodeFrame, RawWebSocket } from "../_raw_websocket.ts";
import { MiB, residentBytes, sampleResident, startTarget } from "./_attack.ts";

const TEXT = 0x1;
const CONTINUATION = 0x0;

/**
 * Sends a text message of `total` bytes as 1 MiB fragments, stopping once the gateway closed;
 * returns the bytes sent before the close frame arrived, and that close.
 */
async function sendFragmented(raw: RawWebSocket, total: number) {
  let closed = false;
  let sentAtClose = -1;
  const close = raw.readClose(30_000).finally(() => {
    closed = true;
    sentAtClose = sent;
  });
  close.catch(() => {});
  const chunk = new Uint8Array(MiB).fill(0x61);
  let sent = 0;
  let sentBeforeLast = -1;
  try {
    while (sent < total && !closed) {
      const last = sent + chunk.length >= total;
      if (last) sentBeforeLast = sent;
      await raw.write(encodeFrame(sent === 0 ? TEXT : CONTINUATION, chunk, { fin: last }));
      sent += chunk.length;
      // Writes to loopback complete at once; let the event loop deliver the close frame.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } catch {
    // the gateway closed the connection under the write
  }
  const closeInfo = await close;
  return { sent: sentAtClose, sentBeforeLast, close: closeInfo };
}

Deno.test("gateway engine: a 100 MiB fragmented message is closed with 1009 after about max_message_bytes, memory bounded", async () => {
  await using target = await startTarget("gateway");
  const before = await residentBytes(target.metrics);
  const sampler = sampleResident(target.metrics);
  const raw = await RawWebSocket.connect(target.websocket, "/ws");
  try {
    const result = await sendFragmented(raw, 100 * MiB);
    const peak = await sampler.stop();
    assert.equal(result.close.code, 1009);
    // What the kernel's socket buffers absorbed before the close frame came back, not the
    // gateway: it refuses the first fragment past 64 KiB.
    assert.ok(result.sent <= 8 * MiB, `sent ${result.sent / MiB} MiB before the close`);
    const growth = peak - before;
    assert.ok(growth < 64 * MiB, `resident memory grew ${(growth / MiB).toFixed(1)} MiB`);
  } finally {
    raw.close();
    await sampler.stop();
  }
});

Deno.test("deno engine: an 8 MiB fragmented message is buffered whole, then closed with 1009", async () => {
  await using target = await startTarget("deno");
  const raw = await RawWebSocket.connect(target.websocket, "/ws");
  try {
    const result = await sendFragmented(raw, 8 * MiB);
    assert.equal(result.close.code, 1009);
    // Deno's documented limit: nothing reaches the gateway (and no close leaves) until the
    // final fragment, so the whole message sits in memory first.
    assert.ok(result.sentBeforeLast >= 0, "closed before the final fragment");
    assert.equal(result.sent, 8 * MiB);
  } finally {
    raw.close();
  }
});
