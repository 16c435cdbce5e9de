/**
 * A client that pipelines large echo requests and never reads a reply. The replies pile up in
 * the gateway only up to a bound: past `limits.max_outbound_bytes` the session is closed as a
 * slow consumer (4002) and the `gateway` engine tears its connection down at once (the engine's
 * own backstop is four times that), so the client cannot go on sending and the gateway's
 * memory stays bounded.
 */
import assert from "node:assert/strict";
import { RawWebSocket } from "../_raw_websocket.ts";
import { MiB, residentBytes, sampleResident, startTarget } from "./_attack.ts";

const TEXT = 0x1;

Deno.test("gateway engine: pipelined echo requests never read are cut off, memory bounded", async () => {
  await using target = await startTarget("gateway", {
    limits: { max_outbound_bytes: 256 * 1024 },
  });
  const before = await residentBytes(target.metrics);
  const sampler = sampleResident(target.metrics);
  const raw = await RawWebSocket.connect(target.websocket, "/ws");
  const encoder = new TextEncoder();
  const data = "x".repeat(60_000);
  let sent = 0;
  try {
    // Up to 300 MB of replies asked for; the gateway must cut the client off long before.
    for (let id = 1; id <= 5_000; id++) {
      const request = JSON.stringify({ type: "request", id, route: "echo", data });
      try {
        await raw.send(TEXT, encoder.encode(request));
      } catch {
        break; // reset: the gateway closed the connection
      }
      sent += request.length;
      if (id % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const peak = await sampler.stop();
    assert.ok(sent < 100 * MiB, `the gateway took ${(sent / MiB).toFixed(0)} MiB of requests`);
    const growth = peak - before;
    assert.ok(growth < 64 * MiB, `resident memory grew ${(growth / MiB).toFixed(1)} MiB`);
  } finally {
    raw.close();
    await sampler.stop();
  }
});
