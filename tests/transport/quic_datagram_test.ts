import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { connectQuic } from "../../src/transport/quic_client.ts";
import { Router } from "../../src/services/router.ts";
import { waitFor, within } from "../_helpers.ts";
import { worldService } from "../fixtures/zone_service.ts";
import { quicPort, quicTestConfig, testTls } from "../_quic_harness.ts";

/** A QUIC-only gateway on `engine` and a client connected to it; shut the gateway down after. */
async function quicGatewayAndClient(engine: "native" | "matrixai") {
  const gateway = startGateway(
    parseConfig({
      websocket: { enabled: false },
      metrics: { enabled: false },
      quic: quicTestConfig(engine),
    }),
    { logger: new Logger("error") },
  );
  try {
    const client = await connectQuic({
      hostname: "127.0.0.1",
      port: await quicPort(gateway),
      caCerts: [testTls.caPem],
      engine,
    });
    return { gateway, client };
  } catch (error) {
    await gateway.shutdown(1_000);
    throw error;
  }
}

Deno.test("quic native: datagrams carry envelopes both ways and are counted apart", async () => {
  const { gateway, client } = await quicGatewayAndClient("native");
  try {
    const inbox: string[] = [];
    client.onMessage = (text) => inbox.push(text);
    // Replies travel on the message stream, which the server sees once the client uses it.
    await client.send('{"type":"ping","id":0}');
    await waitFor(() => inbox.length === 1, 3_000, "the stream pong");
    inbox.length = 0;
    // Datagrams are unreliable even on loopback in principle: resend until one is answered.
    await within(
      (async () => {
        while (inbox.length === 0) {
          await client.sendDatagram('{"type":"ping","id":1}');
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      3_000,
      "a pong to a datagram ping",
    );
    assert.equal(JSON.parse(inbox[0]).type, "pong");
    assert.ok(gateway.metrics.datagramsReceived.quic >= 1);
    assert.equal(gateway.metrics.messagesReceived.quic, 1);

    const [session] = gateway.sessions.values();
    inbox.length = 0;
    assert.ok(session.transport.writeDatagram?.('{"type":"position","data":{"x":1,"y":2}}'));
    await waitFor(() => inbox.some((t) => t.includes("position")), 3_000, "a server datagram");
    await client.close();
  } finally {
    await gateway.shutdown(1_000);
  }
});

Deno.test("quic matrixai: a client cannot send datagrams and says why", async () => {
  const { gateway, client } = await quicGatewayAndClient("matrixai");
  try {
    await assert.rejects(client.sendDatagram("{}"), RangeError);
    await client.close();
  } finally {
    await gateway.shutdown(1_000);
  }
});

Deno.test("an unreliable push goes as a datagram to QUIC and on the stream to WebSocket", async () => {
  const gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
      quic: quicTestConfig("native"),
    }),
    { logger: new Logger("error"), router: new Router().addService(worldService) },
  );
  try {
    const quic = await connectQuic({
      hostname: "127.0.0.1",
      port: await quicPort(gateway),
      caCerts: [testTls.caPem],
    });
    const quicInbox: Record<string, unknown>[] = [];
    quic.onMessage = (text) => quicInbox.push(JSON.parse(text));
    const ws = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
    const wsInbox: Record<string, unknown>[] = [];
    ws.onmessage = (event) => wsInbox.push(JSON.parse(event.data));
    await within(new Promise((resolve) => ws.onopen = resolve), 3_000, "the WebSocket");

    await quic.send('{"type":"request","id":1,"route":"world.enter"}');
    ws.send('{"type":"request","id":1,"route":"world.enter"}');
    await waitFor(() => quicInbox.length === 1 && wsInbox.length === 1, 3_000, "both entered");
    ws.send('{"type":"request","id":2,"route":"world.move","data":{"x":3,"y":4}}');
    const isPosition = (m: Record<string, unknown>) => m.route === "world.position";
    await waitFor(
      () => quicInbox.some(isPosition) && wsInbox.some(isPosition),
      3_000,
      "the position on both transports",
    );
    assert.deepEqual(quicInbox.find(isPosition), {
      type: "push",
      route: "world.position",
      data: { x: 3, y: 4 },
    });
    assert.equal(gateway.metrics.datagramsSent.quic, 1);
    assert.equal(gateway.metrics.datagramsSent.websocket, 0);

    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
    await quic.close();
  } finally {
    await gateway.shutdown(1_000);
  }
});
