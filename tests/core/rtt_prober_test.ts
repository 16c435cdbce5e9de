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
      return true;
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

/** Runs one full round: enough ticks, far enough apart, for every session to be visited. */
async function round(prober: RttProber): Promise<number> {
  await sleep(8);
  return prober.tick();
}

Deno.test("RttProber pings only sessions that were sent nothing since its previous visit", async () => {
  const { sessions, writer } = setup();
  const prober = new RttProber(sessions, writer, { intervalMs: 10, tickMs: 10, scheduler: manual });
  const quiet = recorder();
  const busy = recorder();
  const quietSession = sessions.create(quiet, "a");
  const busySession = sessions.create(busy, "b");
  assert.equal(await round(prober), 0, "the first visit only marks");
  writer.write(busySession, '{"type":"push"}');
  assert.equal(await round(prober), 1);
  assert.deepEqual(quiet.written, ['{"type":"ping","id":1}']);
  assert.deepEqual(busy.written, ['{"type":"push"}'], "a session with traffic is not probed");
  assert.equal(quietSession.rttProbeId, 1);
  // Its own ping is not traffic: an idle session is probed every round, a new id each time.
  assert.equal(await round(prober), 2);
  assert.deepEqual(quiet.written.at(-1), '{"type":"ping","id":2}');
  assert.deepEqual(busy.written.at(-1), '{"type":"ping","id":3}');
});

Deno.test("RttProber visits its share of the sessions per tick and one round per interval", () => {
  const { sessions, writer } = setup();
  for (let i = 0; i < 100; i++) sessions.create(recorder(), `10.0.0.1:${i}`);
  const prober = new RttProber(sessions, writer, {
    intervalMs: 10_000,
    tickMs: 1_000,
    scheduler: manual,
  });
  const visited = () => [...sessions.values()].filter((s) => s.rttProbeMark !== -1).length;
  prober.tick();
  assert.equal(visited(), 10, "1 s of a 10 s interval: a tenth of the sessions");
  for (let i = 0; i < 9; i++) prober.tick();
  assert.equal(visited(), 100);
  // The round is over; the next one waits for the interval, so nothing is probed now.
  for (let i = 0; i < 5; i++) assert.equal(prober.tick(), 0);
  assert.equal(prober.probesSent, 0);
});

Deno.test("the answer to a probe records the round trip; any other pong is ignored, never a protocol error", async () => {
  const { sessions, writer, gateway, metrics } = setup();
  const prober = new RttProber(sessions, writer, { intervalMs: 10, tickMs: 10, scheduler: manual });
  const transport = recorder();
  const session = sessions.create(transport, "a");
  await round(prober);
  await round(prober);
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
  const prober = new RttProber(sessions, writer, { intervalMs: 10, tickMs: 10, scheduler: manual });
  await round(prober);
  assert.equal(await round(prober), 1);
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
  const prober = new RttProber(sessions, writer, { intervalMs: 1_000, signal: controller.signal });
  prober.start();
  controller.abort();
  prober.start(); // refused after abort
  prober.stop(); // safe twice
});
