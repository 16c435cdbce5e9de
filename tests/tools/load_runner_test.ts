import assert from "node:assert/strict";
import {
  type ClientConnection,
  type CloseInfo,
  ConnectError,
  type Connector,
} from "../../tools/_client_connection.ts";
import { errorCount } from "../../tools/_load_counters.ts";
import { type LoadPlan, LoadRunner } from "../../tools/_load_runner.ts";
import { within } from "../_helpers.ts";

const TARGET = { hostname: "127.0.0.1", port: 1, path: "/ws", timeoutMs: 1_000 };

/** A connection that answers the first `answered` messages, then closes as the gateway would. */
function scriptedConnector(answered: number, close: Omit<CloseInfo, "byClient">): Connector {
  return () => {
    const closed = Promise.withResolvers<CloseInfo>();
    let received = 0;
    const connection: ClientConnection = {
      onMessage: undefined,
      closed: closed.promise,
      send(text) {
        const { id } = JSON.parse(text);
        if (++received <= answered) {
          queueMicrotask(() => connection.onMessage?.(JSON.stringify({ type: "pong", id })));
        } else {
          queueMicrotask(() => closed.resolve({ ...close, byClient: false }));
        }
        return Promise.resolve();
      },
      close() {
        closed.resolve({ code: 1000, reason: "", byClient: true });
        return closed.promise.then(() => {});
      },
      [Symbol.asyncDispose]() {
        return this.close();
      },
    };
    return Promise.resolve(connection);
  };
}

function plan(connections: number, messages: number): LoadPlan {
  return {
    target: TARGET,
    connections,
    messagesPerConnection: messages,
    intervalMs: 1,
    rampupMs: 0,
    payloadBytes: 0,
  };
}

Deno.test("LoadRunner counts heartbeat closes and the message each one cut off", async () => {
  const runner = new LoadRunner(
    plan(3, 5),
    scriptedConnector(1, { code: 4000, reason: "heartbeat timeout" }),
  );
  await within(runner.run(new AbortController().signal), 5_000, "the run to end");
  const c = runner.counters;
  assert.equal(c.established, 3);
  assert.equal(c.sent, 6);
  assert.equal(c.received, 3);
  assert.equal(c.lost, 3);
  assert.equal(c.heartbeatCloses, 3);
  assert.deepEqual(c.serverCloses, { "4000 heartbeat timeout": 3 });
  assert.equal(c.open, 0);
  assert.equal(errorCount(c), 6);
  assert.equal(runner.latency.count, 3);
});

Deno.test("LoadRunner counts failed connections by reason", async () => {
  const refuse: Connector = () => Promise.reject(new ConnectError("refused", "Refused"));
  const runner = new LoadRunner(plan(4, 1), refuse);
  await within(runner.run(new AbortController().signal), 5_000, "the run to end");
  assert.equal(runner.counters.attempted, 4);
  assert.equal(runner.counters.failed, 4);
  assert.deepEqual(runner.counters.failures, { refused: 4 });
  assert.equal(runner.counters.sent, 0);
});

Deno.test("LoadRunner stops on abort and records how many sessions were open", async () => {
  const runner = new LoadRunner(plan(2, 0), scriptedConnector(Infinity, { code: 0, reason: "" }));
  const stop = new AbortController();
  const run = runner.run(stop.signal);
  await within(
    (async () => {
      while (runner.counters.received < 10) await new Promise((r) => setTimeout(r, 5));
    })(),
    5_000,
    "replies",
  );
  stop.abort();
  await within(run, 5_000, "the run to stop");
  assert.equal(runner.counters.openAtStop, 2);
  assert.equal(runner.counters.open, 0);
  assert.equal(runner.counters.lost, 0);
  assert.equal(runner.counters.received, runner.counters.sent);
});

Deno.test("LoadRunner with hold reopens sessions that end until stopped", async () => {
  const runner = new LoadRunner(
    { ...plan(2, 0), hold: true, reconnectDelayMs: 1 },
    scriptedConnector(2, { code: 1001, reason: "going away" }),
  );
  const stop = new AbortController();
  const run = runner.run(stop.signal);
  await within(
    (async () => {
      while (runner.counters.reconnects < 6) await new Promise((r) => setTimeout(r, 5));
    })(),
    5_000,
    "6 reconnects",
  );
  stop.abort();
  await within(run, 5_000, "the run to stop");
  const c = runner.counters;
  assert.equal(c.established, 2 + c.reconnects);
  assert.equal(c.failed, 0);
  // Every reopening followed a close by the gateway, which cut off the message in flight.
  const closes = c.serverCloses["1001 going away"];
  assert.ok(closes >= c.reconnects, `${closes} closes, ${c.reconnects} reconnects`);
  assert.equal(c.lost, closes);
  assert.equal(c.open, 0);
});

Deno.test("LoadRunner with hold backs off while connecting keeps failing", async () => {
  const attempts: number[] = [];
  const refuse: Connector = () => {
    attempts.push(performance.now());
    return Promise.reject(new ConnectError("refused", "Refused"));
  };
  const runner = new LoadRunner({ ...plan(1, 0), hold: true, reconnectDelayMs: 20 }, refuse);
  const stop = new AbortController();
  const run = runner.run(stop.signal);
  await within(
    (async () => {
      while (attempts.length < 5) await new Promise((r) => setTimeout(r, 5));
    })(),
    5_000,
    "5 attempts",
  );
  stop.abort();
  await within(run, 5_000, "the run to stop");
  // Delays of 20, 40, 80, 160 ms, each scaled by 0.5-1.5.
  const gaps = attempts.slice(1, 5).map((t, i) => t - attempts[i]);
  for (const [i, gap] of gaps.entries()) {
    const base = 20 * 2 ** i;
    assert.ok(gap >= base * 0.5 - 2 && gap <= base * 1.5 + 250, `gap ${i}: ${gap} ms`);
  }
  assert.equal(runner.counters.reconnects, 0);
  assert.deepEqual(runner.counters.failures, { refused: runner.counters.failed });
});

Deno.test("LoadRunner with hold retries a session that failed to open without counting a reconnect", async () => {
  const answering = scriptedConnector(Infinity, { code: 0, reason: "" });
  let calls = 0;
  const failOnce: Connector = (options) =>
    ++calls === 1 ? Promise.reject(new ConnectError("refused", "Refused")) : answering(options);
  const runner = new LoadRunner({ ...plan(1, 0), hold: true, reconnectDelayMs: 1 }, failOnce);
  const stop = new AbortController();
  const run = runner.run(stop.signal);
  await within(
    (async () => {
      while (runner.counters.open < 1) await new Promise((r) => setTimeout(r, 5));
    })(),
    5_000,
    "the session to open on its second attempt",
  );
  stop.abort();
  await within(run, 5_000, "the run to stop");
  assert.equal(runner.counters.failed, 1);
  assert.equal(runner.counters.established, 1);
  assert.equal(runner.counters.reconnects, 0);
  assert.equal(runner.counters.openAtStop, 1);
});
