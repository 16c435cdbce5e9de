import assert from "node:assert/strict";
import type { Scheduler } from "../../src/core/heartbeat_sweeper.ts";
import { Gateway } from "../../src/core/gateway.ts";
import { Logger } from "../../src/core/logger.ts";
import { RttProber } from "../../src/core/rtt_prober.ts";
import type { Session } from "../../src/core/session.ts";
import { SessionManager } from "../../src/core/session_manager.ts";
import { SessionWriter } from "../../src/core/session_writer.ts";
import type { Transport } from "../../src/core/transport.ts";
import { GatewayMetrics } from "../../src/ops/metrics.ts";
import { sleep } from "../_helpers.ts";

/** A scheduler that never fires: the tests call `tick()` themselves. */
const manual: Scheduler = { every: () => () => {} };

/** A transport that records what is written to it. */
function recorder(ping?: () => boolean): Transport & { written: string[] } {
  const written: string[] = [];
  return {
    kind: "websocket",
    outboundBytes: 0,
    written,
    write: (text) => {
      written.push(text);
      return text.length;
    },
    close: () => {},
    ...(ping && { ping }),
  };
}

function setup() {
  const metrics = new GatewayMetrics();
  const sessions = new SessionManager();
  const writer = new SessionWriter(metrics);
  const gateway = new Gateway({
    sessions,
    services: { request: () => null, notify: () => null, [Symbol.asyncDispose]: async () => {} },
    writer,
    requestTimeoutMs: 1_000,
    events: metrics,
    logger: new Logger("error", () => {}),
    maxMessageBytes: 65_536,
    maxProtocolErrors: 3,
  });
  return { metrics, sessions, writer, gateway };
}

/** A hand-driven clock for the prober's rounds, and a prober on it. */
function prober(
  sessions: SessionManager,
  writer: SessionWriter,
  options: { intervalMs: number; idleMs: number; tickMs: number },
) {
  let now = 0;
  const instance = new RttProber(sessions, writer, {
    ...options,
    now: () => now,
    scheduler: manual,
  });
  return {
    prober: instance,
    /** Moves the clock to `at` and ticks. */
    tickAt(at: number): number {
      now = at;
      return instance.tick();
    },
  };
}

Deno.test("RttProber pings only sessions that were sent nothing for the idle time", () => {
  const { sessions, writer } = setup();
  const { tickAt } = prober(sessions, writer, { intervalMs: 10_000, idleMs: 2_000, tickMs: 1_000 });
  const quiet = recorder();
  const busy = recorder();
  const late = recorder();
  const quietSession = sessions.create(quiet, "a");
  const busySession = sessions.create(busy, "b");
  const lateSession = sessions.create(late, "c");
  // One visit per tick (3 sessions, a tenth of the interval per tick): the marking cursor
  // passes a, b, c at 0, 1, 2 s; the probing cursor follows 2 s behind.
  assert.equal(tickAt(0), 0);
  assert.equal(tickAt(1_000), 0);
  writer.write(busySession, '{"type":"push"}'); // after b's mark, before its probe
  assert.equal(tickAt(2_000), 1, "a was sent nothing since 0 s");
  assert.equal(tickAt(3_000), 0, "b was sent a push at 1.5 s");
  assert.equal(tickAt(4_000), 1, "c was sent nothing since 2 s");
  assert.deepEqual(quiet.written, ['{"type":"ping","id":1}']);
  assert.deepEqual(busy.written, ['{"type":"push"}'], "a session with traffic is not probed");
  assert.deepEqual(late.written, ['{"type":"ping","id":2}']);
  assert.equal(quietSession.rttProbeId, 1);
  assert.equal(lateSession.rttProbeId, 2);
  // Nothing more until the next interval; then the gateway's own ping is not traffic.
  for (let at = 5_000; at < 10_000; at += 1_000) assert.equal(tickAt(at), 0);
  for (let at = 10_000; at <= 14_000; at += 1_000) tickAt(at);
  assert.deepEqual(quiet.written.at(-1), '{"type":"ping","id":3}');
  assert.deepEqual(busy.written.at(-1), '{"type":"ping","id":4}');
  assert.deepEqual(late.written.at(-1), '{"type":"ping","id":5}');
});

Deno.test("RttProber visits its share of the sessions per tick and one round per interval", () => {
  const { sessions, writer } = setup();
  for (let i = 0; i < 100; i++) sessions.create(recorder(), `10.0.0.1:${i}`);
  const { prober: instance, tickAt } = prober(sessions, writer, {
    intervalMs: 10_000,
    idleMs: 5_000,
    tickMs: 1_000,
  });
  const marked = () => [...sessions.values()].filter((s) => s.rttProbeMark !== -1).length;
  tickAt(0);
  assert.equal(marked(), 10, "1 s of a 10 s interval: a tenth of the sessions");
  for (let at = 1_000; at < 5_000; at += 1_000) assert.equal(tickAt(at), 0);
  assert.equal(marked(), 50);
  // From 5 s on, the probing cursor follows: ten probes per tick.
  for (let at = 5_000; at < 15_000; at += 1_000) assert.equal(tickAt(at), 10, `at ${at}`);
  assert.equal(instance.probesSent, 100);
  // The next marking round started at 10 s; the next probing round starts at 15 s.
  assert.equal(tickAt(15_000), 10);
});

Deno.test("the answer to a probe records the round trip; any other pong is ignored, never a protocol error", async () => {
  const { sessions, writer, gateway, metrics } = setup();
  const { tickAt } = prober(sessions, writer, { intervalMs: 10, idleMs: 5, tickMs: 1 });
  const transport = recorder();
  const session = sessions.create(transport, "a");
  tickAt(0);
  tickAt(5);
  assert.equal(session.rttProbeId, 1);
  // Unasked pongs (more than max_protocol_errors of them) and a wrong id change nothing.
  for (let i = 0; i < 5; i++) gateway.receiveText(session, '{"type":"pong"}');
  gateway.receiveText(session, '{"type":"pong","id":99}');
  assert.equal(session.rttMs, undefined);
  assert.equal(session.protocolErrors, 0);
  assert.equal(sessions.get(session.id), session, "still open");
  await sleep(3);
  gateway.receiveText(session, '{"type":"pong","id":1}');
  assert.ok(session.rttMs !== undefined && session.rttMs >= 3, `rtt ${session.rttMs}`);
  assert.equal(session.rttProbeId, 0);
  assert.equal(metrics.rtt.websocket.count, 1);
  // A late duplicate is not measured twice.
  gateway.receiveText(session, '{"type":"pong","id":1}');
  assert.equal(metrics.rtt.websocket.count, 1);
  assert.deepEqual(transport.written, ['{"type":"ping","id":1}'], "no error replies");
});

Deno.test("a transport with its own ping is pinged instead, and reports the answer through Gateway.pong", async () => {
  const { sessions, writer, gateway, metrics } = setup();
  let pings = 0;
  const transport = recorder(() => {
    pings++;
    // As the own WebSocket engine will: a ping frame, then the pong's round trip.
    queueMicrotask(() => gateway.pong(session, 12.5));
    return true;
  });
  const session: Session = sessions.create(transport, "a");
  const { tickAt } = prober(sessions, writer, { intervalMs: 10, idleMs: 5, tickMs: 1 });
  tickAt(0);
  assert.equal(tickAt(5), 1);
  await sleep(0);
  assert.equal(pings, 1);
  assert.deepEqual(transport.written, [], "no application ping");
  assert.equal(session.rttMs, 12.5);
  assert.equal(metrics.rtt.websocket.count, 1);
  assert.equal(metrics.rtt.websocket.sum, 0.0125);
});

Deno.test("RttProber stops on abort and leaves no timer behind", () => {
  const { sessions, writer } = setup();
  const controller = new AbortController();
  const instance = new RttProber(sessions, writer, {
    intervalMs: 1_000,
    idleMs: 500,
    signal: controller.signal,
  });
  instance.start();
  controller.abort();
  instance.start(); // refused after abort
  instance.stop(); // safe twice
  assert.throws(
    () => new RttProber(sessions, writer, { intervalMs: 1_000, idleMs: 1_000 }),
    RangeError,
  );
});
