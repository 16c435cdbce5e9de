/**
 * A client floods the gateway with echo requests as fast as it can: it gets `rate_limited`
 * answers, then a close with 4504 once past `limits.max_rate_violations`, while another
 * session's pings keep being answered. On each WebSocket engine and each QUIC engine.
 */
import assert from "node:assert/strict";
import type { RunningGateway } from "../../src/app.ts";
import {
  type GatewayConfigInput,
  QUIC_ENGINES,
  WEBSOCKET_ENGINES,
} from "../../src/config/config.ts";
import { startTestGateway, within } from "../_helpers.ts";
import { quicPort, quicTestClient, quicTestConfig } from "../_quic_harness.ts";
import { type CloseInfo, MessageQueue, type TestClient } from "../_transport_suite.ts";

const LIMITS = {
  messages_per_sec: 200,
  burst: 100,
  max_rate_violations: 50,
  rate_violation_window_sec: 10,
};

function webSocketClient(port: number): Promise<TestClient> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  const messages = new MessageQueue();
  const closed = Promise.withResolvers<CloseInfo>();
  socket.onmessage = (event) => messages.push(event.data);
  socket.onclose = (event) => {
    closed.resolve({ code: event.code, reason: event.reason });
    messages.end();
  };
  return new Promise((resolve, reject) => {
    socket.onopen = () =>
      resolve({
        send: (text) => Promise.resolve(socket.send(text)),
        next: (timeoutMs) => messages.next(timeoutMs),
        closed: closed.promise,
        close: async () => {
          socket.close();
          await within(closed.promise, 3_000, "the client close");
        },
      });
    socket.onerror = () => reject(new Error("Cannot connect"));
  });
}

interface Target {
  name: string;
  config: GatewayConfigInput;
  connect(gateway: RunningGateway): Promise<TestClient>;
}

const targets: Target[] = [
  ...WEBSOCKET_ENGINES.map((engine): Target => ({
    name: `websocket (${engine} engine)`,
    config: { websocket: { engine } },
    connect: (gateway) => webSocketClient(gateway.websocketAddr!.port),
  })),
  ...QUIC_ENGINES.map((engine): Target => ({
    name: `quic (${engine} engine)`,
    // The close lingers (`close_linger_ms`) for the flooder to read its last replies before
    // the connection stops and drops what is unread. The harness's 100 ms was too short for
    // the matrixai client, busy sending its flood: in 8 of 28 runs it had read only 0 to 46 of
    // the 50 `rate_limited` replies. The default is 250 ms; with 2 s, 10 of 10 runs passed.
    config: {
      websocket: { enabled: false },
      quic: quicTestConfig(engine, { close_linger_ms: 2_000 }),
    },
    connect: async (gateway) => quicTestClient(await quicPort(gateway), engine),
  })),
];

/** Reads every message of `client` until it closes; counts `rate_limited` errors and replies. */
async function drain(client: TestClient): Promise<{ limited: number; replies: number }> {
  let limited = 0, replies = 0;
  try {
    while (true) {
      const message = JSON.parse(await client.next(10_000));
      if (message.type === "error" && message.code === "rate_limited") {
        assert.equal(typeof message.id, "number", "rate_limited carries the request's id");
        limited++;
      } else if (message.type === "response") replies++;
    }
  } catch {
    // closed
  }
  return { limited, replies };
}

for (const target of targets) {
  Deno.test(`${target.name}: a flooding client gets rate_limited, then 4504; others' pings are answered`, async () => {
    await using gateway = startTestGateway({ ...target.config, limits: LIMITS });
    const flooder = await target.connect(gateway);
    const player = await target.connect(gateway);
    const read = drain(flooder);
    let open = true;
    flooder.closed.then(() => open = false);
    // The attacker: batches of echo requests, as fast as the event loop lets it send.
    const flood = (async () => {
      let id = 0;
      while (open && id < 50_000) {
        for (let i = 0; i < 100; i++) {
          flooder.send(`{"type":"request","id":${++id},"route":"echo","data":"x"}`).catch(() => {});
        }
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      return id;
    })();
    // The other player: pings, one at a time, each must be answered.
    let answered = 0;
    for (let id = 1; id <= 20; id++) {
      await player.send(`{"type":"ping","id":${id}}`);
      const pong = JSON.parse(await player.next(5_000));
      assert.equal(pong.type, "pong");
      assert.equal(pong.id, id);
      answered++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const closed = await within(flooder.closed, 10_000, "the flooder's close");
    const sent = await flood;
    const { limited, replies } = await read;
    // The gateway's count is the authority: a WebSocket flooder whose requests are still unread
    // in the server's receive buffer when its connection closes gets a TCP reset, and a reset
    // discards what it had not read yet, the close frame and the last errors included.
    assert.equal(gateway.metrics.disconnects.get("rate_limited"), 1);
    assert.equal(gateway.metrics.rateLimited.get("session"), LIMITS.max_rate_violations + 1);
    assert.ok(
      closed.code === 4504 ||
        (target.name.startsWith("websocket") && [0, 1006].includes(closed.code)),
      `closed with ${closed.code} ${closed.reason}`,
    );
    if (closed.code === 4504) {
      assert.equal(limited, LIMITS.max_rate_violations, "each violation answered, then closed");
      assert.ok(replies >= LIMITS.burst, `${replies} of ${sent} echoed`);
    } else assert.ok(limited <= LIMITS.max_rate_violations);
    assert.ok(replies < sent, `${replies} of ${sent} echoed: not every request was routed`);
    assert.equal(answered, 20);
    await player.close();
  });
}

Deno.test("websocket: a limited route gets rate_limited on its own while other routes go on", async () => {
  await using gateway = startTestGateway({
    limits: { routes: { "chat.say": { per_sec: 0.5, burst: 2 } } },
  });
  const client = await webSocketClient(gateway.websocketAddr!.port);
  const ask = async (id: number, route: string, data: unknown) => {
    await client.send(JSON.stringify({ type: "request", id, route, data }));
    while (true) {
      const message = JSON.parse(await client.next(3_000));
      if (message.id === id) return message;
    }
  };
  assert.equal((await ask(1, "chat.join", "lobby")).type, "response");
  assert.equal((await ask(2, "chat.say", "a")).type, "response");
  assert.equal((await ask(3, "chat.say", "b")).type, "response");
  const refused = await ask(4, "chat.say", "c");
  assert.equal(refused.type, "error");
  assert.equal(refused.code, "rate_limited");
  assert.equal((await ask(5, "echo", 1)).type, "response");
  assert.equal(gateway.metrics.rateLimited.get("chat.say"), 1);
  assert.equal(gateway.metrics.rateLimited.get("session"), 0);
  await client.close();
});
