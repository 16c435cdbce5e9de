/**
 * Clients that stop reading: the gateway bounds what it queues for them
 * (`limits.max_outbound_bytes`), drops their unreliable pushes past half of it, closes them
 * with 4002 past all of it, and everyone else goes on. On each WebSocket engine and each QUIC
 * engine.
 */
import assert from "node:assert/strict";
import { QUIC_ENGINES, WEBSOCKET_ENGINES } from "../../src/config/config.ts";
import { encodePush } from "../../src/core/protocol.ts";
import { sample, sleep, startTestGateway, waitFor, within } from "../_helpers.ts";
import { GatewayProcess } from "../_gateway_process.ts";
import { Player } from "../_player.ts";
import { RawWebSocket } from "../_raw_websocket.ts";
import { quicPort, quicTestConfig, testTls } from "../_quic_harness.ts";
import { encodeFrame } from "../../src/transport/quic_framing.ts";

const encoder = new TextEncoder();
const MAX_OUTBOUND_BYTES = 256 * 1024;

async function metrics(port: number): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** Sends `frames` text frames without awaiting the gateway; stops at the first failed write. */
function pipeline(raw: RawWebSocket, frames: number, text: (i: number) => string): Promise<void> {
  return (async () => {
    for (let i = 1; i <= frames; i++) await raw.send(0x1, encoder.encode(text(i)));
  })().catch(() => {});
}

for (const engine of WEBSOCKET_ENGINES) {
  Deno.test(`websocket (${engine} engine): a client that pipelines 60 KB echoes and never reads is closed with 4002, RSS bounded`, async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/gateway.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        websocket: { host: "127.0.0.1", port: 0, engine },
        metrics: { host: "127.0.0.1", port: 0 },
        limits: { max_outbound_bytes: MAX_OUTBOUND_BYTES },
        log: { level: "info" },
      }),
    );
    try {
      await using gateway = new GatewayProcess(["--config", path]);
      const ports = await gateway.ports();
      const before = sample(await metrics(ports.metrics), "process_resident_memory_bytes")!;
      const raw = await RawWebSocket.connect(ports.websocket, "/ws");
      const data = "x".repeat(60_000);
      // 400 requests, 24 MB of replies: a hundred times the limit.
      const sending = pipeline(
        raw,
        400,
        (id) => `{"type":"request","id":${id},"route":"echo","data":"${data}"}`,
      );
      const closed = await gateway.waitForLog("session closed", 20_000, (l) => l.code === 4002);
      assert.equal(closed.reason, "slow_consumer");
      const text = await metrics(ports.metrics);
      const after = sample(text, "process_resident_memory_bytes")!;
      assert.equal(sample(text, 'gateway_disconnects_total{reason="slow_consumer"}'), 1);
      assert.equal(
        sample(text, 'gateway_outbound_dropped_total{reason="slow_consumer_closed"}'),
        1,
      );
      assert.equal(sample(text, 'gateway_connections_active{transport="websocket"}'), 0);
      // Without the limit this client took the gateway from 74 MB to 4.1 GB (issue 17).
      const growth = after - before;
      assert.ok(growth < 100 * 1024 * 1024, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`);
      raw.close();
      await sending;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`websocket (${engine} engine): a member that stops reading in a busy room is bounded, dropped, closed; the others get everything`, async () => {
    await using gateway = startTestGateway({
      websocket: { engine },
      limits: { max_outbound_bytes: MAX_OUTBOUND_BYTES, messages_per_sec: 0 },
    });
    const port = gateway.websocketAddr!.port;
    const slow = await RawWebSocket.connect(port, "/ws");
    await slow.send(
      0x1,
      encoder.encode('{"type":"request","id":1,"route":"chat.join","data":"busy"}'),
    );
    const member = await Player.connect(gateway);
    const speaker = await Player.connect(gateway);
    await member.request("chat.join", "busy");
    await speaker.request("chat.join", "busy");
    await waitFor(() => gateway.hub.groupSize("chat:busy") === 3, 3_000, "three members");
    const [slowSession] = [...gateway.sessions.values()].filter((s) => s.messagesIn === 1);
    assert.ok(slowSession, "the slow member's session");
    const text = "y".repeat(900);
    let said = 0, maxQueued = 0;
    // The room is busy: messages and unreliable position pushes, until the slow one is gone.
    while (gateway.metrics.disconnects.get("slow_consumer") === undefined && said < 20_000) {
      for (let i = 0; i < 20; i++) {
        speaker.socket.send(
          JSON.stringify({ type: "request", id: 100 + said++, route: "chat.say", data: text }),
        );
        gateway.hub.deliverToGroup("chat:busy", encodePush("pos", text, { unreliable: true }));
      }
      maxQueued = Math.max(maxQueued, slowSession.transport.outboundBytes);
      await sleep(1);
    }
    assert.equal(gateway.metrics.disconnects.get("slow_consumer"), 1, `${said} said`);
    assert.ok(gateway.metrics.outboundDropped.slow_consumer_unreliable > 0, "pushes dropped");
    // Read between writes of 20 messages: at most a sixteenth of the limit and a turn past it.
    assert.ok(maxQueued < MAX_OUTBOUND_BYTES * 1.5, `queued up to ${maxQueued}`);
    await waitFor(() => member.pushes("chat.message").length === said, 10_000, "every message");
    assert.equal(speaker.pushes("chat.message").length, said);
    assert.equal(member.pushes("pos").length, speaker.pushes("pos").length);
    slow.close();
    await member.close();
    await speaker.close();
  });
}

Deno.test("the slow member's connection ends: reading it after the close finds its end", async () => {
  // What the client sees: a close frame with 4002 behind what was queued, or (an engine that
  // tears the connection down at once) the connection's end. Either way it ends, bounded.
  await using gateway = startTestGateway({ limits: { max_outbound_bytes: MAX_OUTBOUND_BYTES } });
  const raw = await RawWebSocket.connect(gateway.websocketAddr!.port, "/ws");
  const data = "x".repeat(60_000);
  const sending = pipeline(
    raw,
    200,
    (id) => `{"type":"request","id":${id},"route":"echo","data":"${data}"}`,
  );
  await waitFor(() => gateway.metrics.disconnects.get("slow_consumer") === 1, 10_000, "4002");
  const end = await within(
    (async () => {
      while (true) {
        const frame = await raw.readFrame();
        if (frame === null) return "end";
        if (frame.opcode === 0x8) return (frame.payload[0] << 8) | frame.payload[1];
      }
    })(),
    10_000,
    "the connection's end",
  );
  assert.ok(end === 4002 || end === "end", `ended with ${end}`);
  raw.close();
  await sending;
});

for (const engine of QUIC_ENGINES) {
  Deno.test(`quic (${engine} engine): a client that pipelines 60 KB echoes and never reads its stream is closed with 4002, queue bounded`, async () => {
    await using gateway = startTestGateway({
      websocket: { enabled: false },
      quic: quicTestConfig(engine),
      limits: { max_outbound_bytes: MAX_OUTBOUND_BYTES },
    });
    const port = await quicPort(gateway);
    // A raw client: it writes to its message stream and never reads from it, so the client's
    // flow-control window shuts and the gateway's stream writer queues.
    const endpoint = new Deno.QuicEndpoint({ hostname: "0.0.0.0", port: 0 });
    const conn = await Deno.connectQuic({
      endpoint,
      hostname: "127.0.0.1",
      port,
      alpnProtocols: ["mmo"],
      caCerts: [testTls.caPem],
      maxIdleTimeout: 30_000,
    });
    try {
      const stream = await conn.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      const data = "x".repeat(60_000);
      let maxQueued = 0;
      const sending = (async () => {
        for (let id = 1; id <= 400 && !gateway.metrics.disconnects.get("slow_consumer"); id++) {
          await writer.write(
            encodeFrame(`{"type":"request","id":${id},"route":"echo","data":"${data}"}`),
          );
          for (const session of gateway.sessions.values()) {
            maxQueued = Math.max(maxQueued, session.transport.outboundBytes);
          }
        }
      })().catch(() => {});
      const info = await within(conn.closed, 10_000, "the gateway to close the connection");
      await sending;
      assert.equal(info.closeCode, 4002, `closed with ${info.closeCode} ${info.reason}`);
      assert.equal(gateway.metrics.disconnects.get("slow_consumer"), 1);
      assert.ok(maxQueued <= MAX_OUTBOUND_BYTES * 1.5, `queued up to ${maxQueued}`);
    } finally {
      conn.close();
      endpoint.close();
    }
  });
}
