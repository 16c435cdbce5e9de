/**
 * A client that fills its socket with replies it never reads, then goes silent. When its
 * session times out, the close frame cannot be delivered; the `gateway` engine closes the TCP
 * connection anyway after its close timeout, releasing the descriptor and every queued byte;
 * Deno's engine keeps it until the client reads or leaves, as docs/protocol.md says.
 */
import assert from "node:assert/strict";
import { startTestGateway, waitFor } from "../_helpers.ts";
import { RawWebSocket } from "../_raw_websocket.ts";
import { readOpenFds } from "../../src/ops/process_metrics.ts";
import type { WebSocketEngineName } from "../../src/config/config.ts";

const TEXT = 0x1;

function openDescriptors(): number {
  const open = readOpenFds();
  if (open === undefined) throw new Error("Cannot count open descriptors here");
  return open;
}

/**
 * A gateway on `engine` with a 2 s heartbeat TTL and a client that has ~9 MB of echo replies
 * stuck in it (more than loopback's socket buffers hold, less than the engine's teardown
 * limit) and says nothing more; returns once the gateway has queued every reply.
 */
async function stalledReader(engine: WebSocketEngineName) {
  const gateway = startTestGateway({
    websocket: { engine },
    session: { heartbeat_ttl_sec: 2, check_interval_sec: 1 },
    limits: { max_outbound_bytes: 16 * 1024 * 1024 },
  });
  const baseline = openDescriptors();
  const raw = await RawWebSocket.connect(gateway.websocketAddr!.port, "/ws");
  const data = "x".repeat(60_000);
  const encoder = new TextEncoder();
  for (let id = 1; id <= 150; id++) {
    const request = JSON.stringify({ type: "request", id, route: "echo", data });
    await raw.send(TEXT, encoder.encode(request));
  }
  await waitFor(
    () => gateway.metrics.messagesSent.websocket >= 150,
    5_000,
    "the gateway to queue every reply",
  );
  return { gateway, raw, baseline };
}

Deno.test({
  name:
    "gateway engine: a client that stops reading and times out has its TCP connection closed within the close timeout",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // The session ends 2–3 s after the client goes silent (TTL 2 s, sweep every 1 s), then the
    // engine waits at most its 3 s close timeout for a close frame it cannot deliver.
    const { gateway, raw, baseline } = await stalledReader("gateway");
    await using _ = gateway;
    try {
      const [session] = gateway.sessions.values();
      const stuck = session.transport.outboundBytes;
      assert.ok(stuck > 1_000_000, `only ${stuck} bytes stuck in the gateway`);
      const silentSince = performance.now();
      await waitFor(
        () => gateway.sessions.count("websocket") === 0,
        5_000,
        "the heartbeat timeout",
      );
      // The client's own descriptor stays open; the gateway's side must be gone.
      await waitFor(
        () => openDescriptors() <= baseline + 1,
        3_000 + 2_000,
        "the gateway to close the TCP connection",
      );
      const elapsed = performance.now() - silentSince;
      assert.ok(elapsed < 2_000 + 1_000 + 3_000 + 2_000, `closed after ${elapsed.toFixed(0)} ms`);
      assert.equal(gateway.metrics.heartbeatTimeouts, 1);
    } finally {
      raw.close();
    }
  },
});

Deno.test({
  name:
    "deno engine: a client that stops reading and times out keeps its TCP connection (documented limit)",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const { gateway, raw, baseline } = await stalledReader("deno");
    await using _ = gateway;
    try {
      await waitFor(
        () => gateway.sessions.count("websocket") === 0,
        5_000,
        "the heartbeat timeout",
      );
      // Where the gateway engine has closed it within its 3 s close timeout, Deno's still holds
      // the connection, its descriptor and what it queued (docs/protocol.md, Limits).
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      assert.ok(
        openDescriptors() >= baseline + 2,
        "Deno closed the connection itself: update docs/protocol.md, Limits",
      );
    } finally {
      raw.close();
    }
    await waitFor(
      () => openDescriptors() <= baseline,
      5_000,
      "Deno to let go once the client left",
    );
  },
});
