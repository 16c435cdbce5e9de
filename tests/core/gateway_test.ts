import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Router } from "../../src/services/router.ts";
import { recordingLogger, within } from "../_helpers.ts";

Deno.test("a failing route handler, or an answer JSON cannot encode, gets internal_error; details stay in the log", async () => {
  const { logger, lines } = recordingLogger();
  const router = new Router()
    .register("boom", () => {
      throw new Error("db password is hunter2");
    })
    .register("later", async (data) => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { later: data };
    })
    .register("reject", () => Promise.reject(new Error("async secret")))
    .register("bigint", () => 1n)
    .register("cycle", () => {
      const value: Record<string, unknown> = {};
      value.self = value;
      return Promise.resolve(value);
    });
  await using gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
    }),
    { logger, router },
  );
  const socket = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
  const replies: Record<string, unknown>[] = [];
  socket.onmessage = (event) => replies.push(JSON.parse(event.data));
  await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
  socket.send('{"type":"request","id":1,"route":"boom"}');
  socket.send('{"type":"request","id":2,"route":"reject"}');
  socket.send('{"type":"request","id":3,"route":"later","data":5}');
  socket.send('{"type":"request","id":4,"route":"bigint"}');
  socket.send('{"type":"request","id":5,"route":"cycle"}');
  await within(
    (async () => {
      while (replies.length < 5) await new Promise((r) => setTimeout(r, 10));
    })(),
    3_000,
    "five replies",
  );
  const byId = Object.fromEntries(replies.map((r) => [r.id, r]));
  assert.deepEqual(byId[1], {
    type: "error",
    id: 1,
    code: "internal_error",
    message: "The request could not be handled",
  });
  assert.equal(byId[2].code, "internal_error");
  assert.deepEqual(byId[3], { type: "response", id: 3, data: { later: 5 } });
  assert.ok(!JSON.stringify(replies).includes("hunter2"));
  const failures = lines.filter((line) => line.msg === "route handler failed");
  assert.equal(failures.length, 4);
  assert.match(String(failures[0].error), /hunter2/);
  assert.equal(failures[0].route, "boom");
  // An answer JSON cannot encode is the handler's fault: the client still gets a reply.
  assert.equal(byId[4].code, "internal_error");
  assert.equal(byId[5].code, "internal_error");
  assert.match(String(failures.find((line) => line.route === "bigint")!.error), /BigInt/);
  const closed = new Promise((resolve) => socket.onclose = resolve);
  socket.close();
  await closed;
});

Deno.test("a message over the rate limit is answered rate_limited and not routed; pings count too", async () => {
  let routed = 0;
  const router = new Router().register("count", () => ++routed);
  await using gateway = startGateway(
    parseConfig({
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { enabled: false },
      // One message every 100 s after a burst of 3: nothing refills within the test.
      limits: { messages_per_sec: 0.01, burst: 3, max_rate_violations: 2 },
    }),
    { logger: recordingLogger().logger, router },
  );
  const socket = new WebSocket(`ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`);
  const replies: Record<string, unknown>[] = [];
  socket.onmessage = (event) => replies.push(JSON.parse(event.data));
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
  socket.send('{"type":"ping","id":1}');
  socket.send('{"type":"ping","id":2}');
  socket.send('{"type":"request","id":3,"route":"count"}');
  socket.send('{"type":"request","id":4,"route":"count"}');
  socket.send('{"type":"ping","id":5}');
  socket.send('{"type":"request","id":6,"route":"count"}');
  const close = await within(closed, 3_000, "the close");
  assert.deepEqual(replies.map((r) => [r.id, r.type, r.code]), [
    [1, "pong", undefined],
    [2, "pong", undefined],
    [3, "response", undefined],
    [4, "error", "rate_limited"],
    [5, "error", "rate_limited"],
  ]);
  assert.equal(routed, 1, "refused requests never reach the route");
  assert.equal(close.code, 4504);
  assert.equal(close.reason, "rate limited");
});
