/**
 * The SDK in Deno against a real gateway on port 0: requests, errors, pushes, batching, its own
 * heartbeat, reconnects by close code, timeouts and close.
 */
import assert from "node:assert/strict";
import { DisconnectHeartbeatTimeout, DisconnectShutdown } from "../../src/core/disconnect.ts";
import {
  ClientErrorCode,
  GatewayClient,
  GatewayError,
  type ReconnectingEvent,
} from "../../src/client/mod.ts";
import { openWebSocket } from "../../src/client/client_transport_websocket.ts";
import { sleep, waitFor, within } from "../_helpers.ts";
import {
  closeFromGateway,
  FAST,
  HeldRoute,
  onlySession,
  startClientGateway,
  wsUrl,
} from "./_client_gateway.ts";

Deno.test("GatewayClient resolves requests with the response data and matches them by id", async () => {
  await using gateway = startClientGateway();
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  assert.equal(client.state, "open");
  assert.equal(client.transport, "websocket");
  const answers = await Promise.all([
    client.request("echo", { n: 1 }),
    client.request("echo", "two"),
    client.request("echo"),
  ]);
  assert.deepEqual(answers, [{ n: 1 }, "two", undefined]);
});

Deno.test("GatewayClient rejects with the protocol's error code", async () => {
  await using gateway = startClientGateway();
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  const error = await client.request("nobody.here", 1).then(
    () => assert.fail("expected a rejection"),
    (error) => error,
  );
  assert.ok(error instanceof GatewayError);
  assert.equal(error.code, "unknown_route");
  assert.equal(error.route, "nobody.here");
  // The session stays up after an error.
  assert.equal(await client.request("echo", 2), 2);
});

Deno.test("GatewayClient rejects a request unanswered within its timeout with request_timeout", async () => {
  const held = new HeldRoute();
  await using gateway = startClientGateway(held);
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  try {
    const error = await client.request("test.held", 1, { timeoutMs: 100 }).catch((e) => e);
    assert.equal((error as GatewayError).code, ClientErrorCode.requestTimeout);
    // A late answer to a timed-out request is dropped, not delivered to anyone.
    held.releaseAll();
    assert.equal(await client.request("echo", "after"), "after");
  } finally {
    held.releaseAll();
  }
});

Deno.test("GatewayClient delivers pushes by route until unsubscribed", async () => {
  await using gateway = startClientGateway();
  await using ann = await GatewayClient.connect(wsUrl(gateway), FAST);
  await using bob = await GatewayClient.connect(wsUrl(gateway), FAST);
  const annSaw: unknown[] = [];
  const bobSaw: unknown[] = [];
  const stopAnn = ann.on("chat.message", (message) => annSaw.push(message));
  bob.on("chat.message", (message) => bobSaw.push(message));
  await ann.request("chat.join", { room: "lobby", name: "ann" });
  await bob.request("chat.join", { room: "lobby", name: "bob" });
  assert.deepEqual(await bob.request("chat.say", "hi ann"), { ok: true });
  await waitFor(() => annSaw.length === 1 && bobSaw.length === 1, 2_000, "both to get the message");
  assert.equal((annSaw[0] as { text: string; from: string }).text, "hi ann");
  assert.equal((annSaw[0] as { text: string; from: string }).from, "bob");
  stopAnn();
  await bob.request("chat.say", "second");
  await waitFor(() => bobSaw.length === 2, 2_000, "bob's own second message");
  await ann.request("echo", 0); // anything after the push has been handled
  assert.equal(annSaw.length, 1, "unsubscribed handler must not be called");
});

Deno.test("GatewayClient offers mmo.batch.v1 and unpacks batched frames", async () => {
  await using gateway = startClientGateway();
  // The transport underneath: what one turn writes (a push and the reply that caused it)
  // arrives as one JSON array.
  const transport = await openWebSocket(wsUrl(gateway), { batching: true, timeoutMs: 3_000 });
  try {
    const frames: string[] = [];
    transport.onMessage = (text) => frames.push(text);
    transport.send(JSON.stringify({ type: "request", id: 1, route: "chat.join", data: "lobby" }));
    transport.send(JSON.stringify({ type: "request", id: 2, route: "chat.say", data: "hi" }));
    await waitFor(() => frames.some((frame) => frame.includes('"id":2')), 2_000, "the reply");
    const batch = frames.find((frame) => frame.includes('"id":2'))!;
    assert.ok(batch.startsWith("["), `not a batch: ${batch}`);
    assert.deepEqual(JSON.parse(batch).map((envelope: { type: string }) => envelope.type), [
      "push",
      "response",
    ]);
  } finally {
    await transport.close(1000, "");
  }
  // The client: many requests in one turn all resolve.
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  const ids = Array.from({ length: 50 }, (_, i) => i);
  assert.deepEqual(await Promise.all(ids.map((i) => client.request("echo", i))), ids);
});

Deno.test("GatewayClient pings on its own while the app is silent", async () => {
  await using gateway = startClientGateway();
  await using client = await GatewayClient.connect(wsUrl(gateway), {
    ...FAST,
    heartbeatIntervalMs: 50,
  });
  const session = onlySession(gateway);
  const before = session.messagesIn;
  await sleep(400);
  assert.ok(session.messagesIn - before >= 3, `only ${session.messagesIn - before} pings`);
  assert.equal(client.state, "open");
});

/** A gateway without resume: a reconnect opens a fresh session. */
const NO_RESUME = { session: { resume_window_sec: 0 } };

Deno.test("GatewayClient reconnects after a 4000 close and sends requests made meanwhile", async () => {
  await using gateway = startClientGateway(undefined, NO_RESUME);
  await using client = await GatewayClient.connect(wsUrl(gateway), {
    ...FAST,
    reconnect: { initialDelayMs: 200, maxDelayMs: 200 },
  });
  const reconnecting: ReconnectingEvent[] = [];
  client.onEvent("reconnecting", (event) => reconnecting.push(event));
  const opened = new Promise((resolve) => client.onEvent("open", resolve));
  closeFromGateway(gateway, DisconnectHeartbeatTimeout);
  await waitFor(() => client.state === "reconnecting", 2_000, "the client to notice the close");
  // Made while disconnected: queued, then sent on the new session.
  const queued = client.request("echo", "queued");
  assert.deepEqual(await within(opened, 3_000, "open after reconnect"), {
    session: undefined,
    user: undefined,
    transport: "websocket",
    reconnected: true,
  });
  assert.equal(await within(queued, 3_000, "the queued request"), "queued");
  assert.equal(reconnecting.length, 1);
  assert.equal(reconnecting[0].code, 4000);
  assert.equal(reconnecting[0].reason, "heartbeat timeout");
  assert.equal(reconnecting[0].attempt, 1);
  assert.ok(reconnecting[0].delayMs >= 100 && reconnecting[0].delayMs <= 200);
  assert.equal(gateway.sessions.size, 1);
});

Deno.test("GatewayClient rejects requests in flight at a drop with connection_lost when it cannot resume", async () => {
  const held = new HeldRoute();
  await using gateway = startClientGateway(held, NO_RESUME);
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  try {
    const inFlight = client.request("test.held", "x").catch((error) => error);
    await waitFor(() => held.waiting === 1, 2_000, "the request to reach the route");
    closeFromGateway(gateway, DisconnectHeartbeatTimeout);
    const error = await within(inFlight, 3_000, "the in-flight request to settle");
    assert.equal((error as GatewayError).code, ClientErrorCode.connectionLost);
    await waitFor(() => client.state === "open", 3_000, "the reconnect");
    assert.equal(await client.request("echo", 1), 1);
  } finally {
    held.releaseAll();
  }
});

Deno.test("GatewayClient reconnects after a gateway shutdown (1001) and gives up after maxAttempts", async () => {
  const gateway = startClientGateway(undefined, NO_RESUME);
  try {
    const client = await GatewayClient.connect(wsUrl(gateway), {
      reconnect: { initialDelayMs: 20, maxDelayMs: 40, maxAttempts: 2 },
    });
    const reconnecting: ReconnectingEvent[] = [];
    client.onEvent("reconnecting", (event) => reconnecting.push(event));
    const pending = client.request("echo", "never").catch((error) => error);
    await gateway.shutdown();
    const closed = await within(client.closed, 5_000, "the client to give up");
    assert.deepEqual(reconnecting.map((event) => event.attempt), [1, 2]);
    assert.equal(reconnecting[0].code, 1001);
    assert.equal(reconnecting[1].code, 1006, "the second attempt follows a refused connect");
    assert.equal(closed.code, 1006);
    assert.equal(client.state, "closed");
    const error = await pending;
    assert.ok(
      [ClientErrorCode.closed, ClientErrorCode.connectionLost].includes(
        (error as GatewayError).code as never,
      ),
      `unexpected ${(error as GatewayError).code}`,
    );
  } finally {
    await gateway.shutdown();
  }
});

Deno.test("GatewayClient never reconnects after 1008 protocol errors", async () => {
  await using gateway = startClientGateway();
  await using client = await GatewayClient.connect(wsUrl(gateway), { ...FAST, resume: false });
  let reconnects = 0;
  client.onEvent("reconnecting", () => reconnects++);
  // Unknown routes count as protocol errors: the tenth closes the session with 1008.
  const errors = await Promise.all(
    Array.from({ length: 10 }, () => client.request("no.such", 0).catch((error) => error)),
  );
  assert.ok(errors.every((error) => error instanceof GatewayError));
  const closed = await within(client.closed, 3_000, "the close");
  assert.equal(closed.code, 1008);
  assert.equal(reconnects, 0);
  assert.equal(client.state, "closed");
});

Deno.test("GatewayClient never reconnects after a close in 4500–4999", async () => {
  await using gateway = startClientGateway();
  await using client = await GatewayClient.connect(wsUrl(gateway), FAST);
  let reconnects = 0;
  client.onEvent("reconnecting", () => reconnects++);
  // 4505 is the operators' kick; the gateway closes with it through the one close path.
  closeFromGateway(gateway, {
    ...DisconnectShutdown,
    code: 4505,
    reason: "kicked",
    reconnect: false,
  });
  const closed = await within(client.closed, 3_000, "the close");
  assert.deepEqual(closed, { code: 4505, reason: "kicked" });
  await sleep(100);
  assert.equal(reconnects, 0);
  assert.equal(gateway.sessions.size, 0);
});

Deno.test("GatewayClient treats a silent connection as dead and reconnects", async () => {
  // A WebSocket server that accepts and never answers: the app-level ping goes unanswered.
  const sockets: WebSocket[] = [];
  const silent = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    sockets.push(socket);
    return response;
  });
  try {
    const client = await GatewayClient.connect(`ws://127.0.0.1:${silent.addr.port}/`, {
      heartbeatIntervalMs: 50,
      heartbeatTimeoutMs: 100,
      reconnect: { initialDelayMs: 1_000 },
      // No `hello` (it would wait for an answer that never comes).
      resume: false,
    });
    try {
      const event = await within(
        new Promise<ReconnectingEvent>((resolve) => client.onEvent("reconnecting", resolve)),
        2_000,
        "the heartbeat to give up",
      );
      assert.equal(event.code, 4000);
      assert.equal(event.reason, "heartbeat timeout");
    } finally {
      await client.close();
    }
  } finally {
    await Promise.all(
      sockets.map((socket) =>
        socket.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => {
          socket.addEventListener("close", resolve);
          socket.close();
        })
      ),
    );
    await silent.shutdown();
  }
});

Deno.test("GatewayClient.close rejects waiting requests with closed and is safe twice", async () => {
  const held = new HeldRoute();
  await using gateway = startClientGateway(held);
  const client = await GatewayClient.connect(wsUrl(gateway), FAST);
  const events: unknown[] = [];
  client.onEvent("closed", (event) => events.push(event));
  const waiting = client.request("test.held", 1).catch((error) => error);
  await waitFor(() => held.waiting === 1, 2_000, "the request to reach the route");
  await client.close();
  await client.close();
  held.releaseAll();
  assert.equal(((await waiting) as GatewayError).code, ClientErrorCode.closed);
  assert.deepEqual(events, [{ code: 1000, reason: "" }]);
  assert.deepEqual(await client.closed, { code: 1000, reason: "" });
  const after = await client.request("echo", 1).catch((error) => error);
  assert.equal((after as GatewayError).code, ClientErrorCode.closed);
  assert.equal(client.notify("echo", 1), false);
  await waitFor(() => gateway.sessions.size === 0, 2_000, "the gateway to see the close");
});

Deno.test("GatewayClient.connect rejects with connect_failed when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await GatewayClient.connect(`ws://127.0.0.1:${port}/ws`, {
    connectTimeoutMs: 2_000,
  })
    .catch((error) => error);
  assert.ok(error instanceof GatewayError);
  assert.equal(error.code, ClientErrorCode.connectFailed);
});

Deno.test("GatewayClient.notify sends without an answer and reports whether it could", async () => {
  await using gateway = startClientGateway();
  await using ann = await GatewayClient.connect(wsUrl(gateway), FAST);
  await using bob = await GatewayClient.connect(wsUrl(gateway), FAST);
  const annSaw: unknown[] = [];
  ann.on("chat.message", (message) => annSaw.push(message));
  assert.equal(ann.notify("chat.join", { room: "lobby", name: "ann" }), true);
  await ann.request("echo", 0); // the notify was handled before this answer
  await bob.request("chat.join", { room: "lobby", name: "bob" });
  await bob.request("chat.say", "hi");
  await waitFor(() => annSaw.length === 1, 2_000, "ann, joined by notify, to get the message");
});
