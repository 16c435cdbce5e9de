import assert from "node:assert/strict";
import type { RunningGateway } from "../../src/app.ts";
import { RawWebSocket } from "../_raw_websocket.ts";
import { BATCH_SUBPROTOCOL } from "../../src/core/frame_coalescer.ts";
import { startTestGateway, waitFor, within } from "../_helpers.ts";
import {
  type CloseInfo,
  MessageQueue,
  runTransportTests,
  type TestClient,
  type TransportHarness,
} from "../_transport_suite.ts";
import { runAuthTests } from "../_auth_suite.ts";
import { WEBSOCKET_ENGINES } from "../../src/config/config.ts";

/**
 * Wraps a browser-style WebSocket (which answers pings on its own) as a TestClient. With
 * `batching` it offers the batch subprotocol and unpacks array frames into their envelopes.
 */
function webSocketClient(url: string, batching = false): Promise<TestClient> {
  const socket = new WebSocket(url, batching ? [BATCH_SUBPROTOCOL] : []);
  const messages = new MessageQueue();
  const closed = Promise.withResolvers<CloseInfo>();
  socket.onmessage = (event) => {
    if (batching && event.data.startsWith("[")) {
      for (const envelope of JSON.parse(event.data)) messages.push(JSON.stringify(envelope));
    } else {
      messages.push(event.data);
    }
  };
  socket.onclose = (event) => {
    closed.resolve({ code: event.code, reason: event.reason });
    messages.end();
  };
  const client: TestClient = {
    send: (text) => Promise.resolve(socket.send(text)),
    sendBinary: (bytes) => Promise.resolve(socket.send(bytes)),
    next: (timeoutMs) => messages.next(timeoutMs),
    closed: closed.promise,
    close: async () => {
      socket.close();
      await within(closed.promise, 3_000, "the client close");
    },
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(client);
    socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
  });
}

/** A raw client that never answers pings nor sends anything. */
async function silentClient(port: number, path: string): Promise<TestClient> {
  const raw = await RawWebSocket.connect(port, path);
  const closed = raw.readClose(30_000).then(({ code, reason }) => ({ code, reason }))
    .finally(() => raw.close());
  return {
    send: () => Promise.reject(new Error("The silent client sends nothing")),
    next: () => Promise.reject(new Error("The silent client reads only the close")),
    closed,
    close: async () => {
      raw.close();
      await closed.catch(() => {});
    },
  };
}

function url(gateway: RunningGateway): string {
  return `ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`;
}

for (const engine of WEBSOCKET_ENGINES) {
  for (const batching of [false, true]) {
    const harness: TransportHarness = {
      name: `websocket ${engine}` + (batching ? " (batched frames)" : ""),
      kind: "websocket",
      config: (suite) => ({
        session: suite.session,
        protocol: suite.protocol,
        websocket: { host: "127.0.0.1", port: 0, max_connections: suite.maxConnections, engine },
      }),
      connect: (gateway) => webSocketClient(url(gateway), batching),
      connectSilent: (gateway) => silentClient(gateway.websocketAddr!.port, "/ws"),
    };
    runTransportTests(harness);
    if (!batching) runAuthTests(harness);
  }
}

for (const engine of WEBSOCKET_ENGINES) {
  Deno.test(`websocket ${engine}: with the batch subprotocol, one turn's envelopes arrive as one frame`, async () => {
    await using gateway = startTestGateway({ websocket: { engine } });
    const frames = async (protocols: string[]) => {
      const socket = new WebSocket(url(gateway), protocols);
      const received: string[] = [];
      socket.onmessage = (event) => received.push(event.data);
      await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
      socket.send('{"type":"request","id":1,"route":"chat.join","data":"lobby"}');
      await waitFor(() => received.length === 1, 3_000, "the join reply");
      // `chat.say` pushes to the room (the sender included) and then replies: two envelopes
      // from one handler, in that order.
      socket.send('{"type":"request","id":2,"route":"chat.say","data":"hi"}');
      await waitFor(() => received.length >= 2, 3_000, "the say frames");
      await new Promise((resolve) => setTimeout(resolve, 100));
      const closed = new Promise((resolve) => socket.onclose = resolve);
      socket.close();
      await closed;
      return { protocol: socket.protocol, frames: received.slice(1) };
    };
    const batched = await frames([BATCH_SUBPROTOCOL]);
    assert.equal(batched.protocol, BATCH_SUBPROTOCOL);
    assert.equal(batched.frames.length, 1);
    const [push, response] = JSON.parse(batched.frames[0]);
    assert.deepEqual([push.type, push.route, response.type, response.id], [
      "push",
      "chat.message",
      "response",
      2,
    ]);
    const plain = await frames([]);
    assert.equal(plain.protocol, "");
    assert.deepEqual(plain.frames.map((f) => JSON.parse(f).type), ["push", "response"]);
    assert.equal(gateway.metrics.messagesSent.websocket, 6, "envelopes are counted, not frames");
  });

  Deno.test(`websocket ${engine}: a client that only answers pings outlives the heartbeat TTL`, async () => {
    // TTL 4 s, sweep every 1 s: Deno pings silent clients after (4 + 1 + 1) / 2 = 3 s.
    await using gateway = startTestGateway({
      session: { heartbeat_ttl_sec: 4, check_interval_sec: 1 },
      websocket: { engine },
    });
    const answering = await webSocketClient(url(gateway));
    const silent = await RawWebSocket.connect(gateway.websocketAddr!.port, "/ws");
    try {
      const silentClose = await silent.readClose(8_000);
      assert.equal(silentClose.code, 4000);
      assert.ok(silentClose.pings >= 1, "the gateway should ping before giving up");
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      assert.equal(gateway.sessions.count("websocket"), 1, "the ping-answering client was closed");
      assert.equal(await Promise.race([answering.closed, "open"]), "open");
    } finally {
      silent.close();
      await answering.close();
    }
  });

  Deno.test(`websocket ${engine}: 404 off the path, 426 for plain GET, 403 for a foreign origin`, async () => {
    await using gateway = startTestGateway({
      websocket: { allowed_origins: ["https://game.example"], engine },
    });
    const base = `http://127.0.0.1:${gateway.websocketAddr!.port}`;
    const other = await fetch(`${base}/other`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const plain = await fetch(`${base}/ws`);
    assert.equal(plain.status, 426);
    assert.equal(plain.headers.get("upgrade"), "websocket");
    await plain.body?.cancel();
    const foreign = new WebSocket(`${url(gateway)}`, {
      headers: { origin: "https://evil.example" },
    });
    const refused = await within(
      new Promise<string>((resolve) => {
        foreign.onerror = () => resolve("refused");
        foreign.onopen = () => resolve("opened");
      }),
      3_000,
      "the foreign-origin upgrade",
    );
    assert.equal(refused, "refused");
    assert.equal(gateway.metrics.rejected.origin_not_allowed, 1);
    const allowed = new WebSocket(url(gateway), { headers: { origin: "https://game.example" } });
    await within(new Promise((resolve) => allowed.onopen = resolve), 3_000, "the allowed upgrade");
    const done = new Promise((resolve) => allowed.onclose = resolve);
    allowed.close();
    await done;
  });

  Deno.test(`websocket ${engine}: while draining, upgrades get 503 and /health reports draining`, async () => {
    const gateway = startTestGateway({ websocket: { engine } });
    const port = gateway.websocketAddr!.port;
    const health = `http://127.0.0.1:${gateway.metricsAddr!.port}/health`;
    // A raw client never answers the close frame, so the drain waits for it (up to the grace).
    const lingering = await RawWebSocket.connect(port, "/ws");
    try {
      const before = await fetch(health);
      assert.equal(before.status, 200);
      assert.equal((await before.json()).status, "ok");
      const stopping = gateway.shutdown(5_000);
      await assert.rejects(RawWebSocket.connect(port, "/ws"), /Handshake refused: HTTP\/1.1 503/);
      assert.equal(gateway.metrics.rejected.draining, 1);
      const during = await fetch(health);
      assert.equal(during.status, 503);
      assert.equal((await during.json()).status, "draining");
      assert.equal((await lingering.readClose(3_000)).code, 1001);
      lingering.close();
      await within(stopping, 3_000, "shutdown after the last socket closed");
    } finally {
      lingering.close();
      await gateway.shutdown();
    }
  });
}
