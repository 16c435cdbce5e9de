import assert from "node:assert/strict";
import { DisconnectTransportError } from "../../src/core/disconnect.ts";
import { encodePush, utf8ByteLength } from "../../src/core/protocol.ts";
import { ResumeBuffer } from "../../src/core/resume_buffer.ts";
import { ResumeTokens } from "../../src/core/resume_token.ts";
import type { Session } from "../../src/core/session.ts";
import { SessionManager } from "../../src/core/session_manager.ts";
import { SessionWriter } from "../../src/core/session_writer.ts";
import { GatewayMetrics } from "../../src/ops/metrics.ts";

function setup(datagrams = false) {
  const sent: string[] = [];
  const metrics = new GatewayMetrics();
  const writer = new SessionWriter(metrics);
  const manager = new SessionManager();
  const transport = {
    kind: "quic" as const,
    outboundBytes: 0,
    write: (text: string) => (sent.push(text), utf8ByteLength(text)),
    writeDatagram: datagrams
      ? (text: string) => (sent.push(`datagram ${text}`), utf8ByteLength(text))
      : undefined,
    close: () => {},
  };
  const session = manager.create(transport, "a");
  const tokens = new ResumeTokens("n", { maxBytes: 100_000, maxMessages: 16 });
  return { sent, metrics, writer, manager, session, tokens };
}

Deno.test("SessionWriter numbers a resumable session's reliable messages and keeps them", () => {
  const { sent, metrics, writer, session, tokens } = setup();
  writer.write(session, '{"type":"response","id":1}');
  tokens.issue(session);
  writer.write(session, '{"type":"response","id":2}');
  writer.sendPush(session, encodePush("r", 1));
  writer.writeControl(session, '{"type":"pong","id":3}');
  writer.sendPush(session, encodePush("pos", 2, { unreliable: true }));
  assert.deepEqual(sent, [
    '{"type":"response","id":1}',
    '{"seq":1,"type":"response","id":2}',
    '{"seq":2,"type":"push","route":"r","data":1}',
    '{"type":"pong","id":3}',
    '{"type":"push","route":"pos","data":2}',
  ]);
  assert.deepEqual(session.resume!.after(0), sent.slice(1, 3), "kept as sent");
  assert.equal(metrics.bytesSent, sent.join("").length);
  assert.equal(session.messagesOut, 5);
});

Deno.test("SessionWriter sends unreliable pushes as datagrams where it can, never numbered", () => {
  const { sent, writer, session, tokens } = setup(true);
  tokens.issue(session);
  writer.sendPush(session, encodePush("pos", 1, { unreliable: true }));
  assert.deepEqual(sent, ['datagram {"type":"push","route":"pos","data":1}']);
  assert.equal(session.resume!.seq, 0);
});

Deno.test("SessionWriter keeps a detached session's messages and reports an overflow", () => {
  const { sent, writer, manager, session, tokens } = setup();
  const overflowed: Session[] = [];
  writer.onResumeOverflow((s) => overflowed.push(s));
  tokens.issue(session);
  manager.closedByTransport(session, DisconnectTransportError);
  for (let i = 1; i <= 16; i++) assert.equal(writer.sendPush(session, encodePush("r", i)), false);
  assert.deepEqual(sent, [], "nothing goes out while detached");
  assert.equal(session.resume!.length, 16);
  writer.sendPush(session, encodePush("r", 17));
  assert.deepEqual(overflowed, [session]);
});

Deno.test("SessionWriter holds pushes, unnumbered, while a session moves in", () => {
  const { sent, writer, session } = setup();
  session.resume = ResumeBuffer.holding({ maxBytes: 1_000, maxMessages: 16 }, "s");
  const push = encodePush("r", 1);
  assert.equal(writer.sendPush(session, push), true);
  assert.deepEqual(sent, []);
  assert.deepEqual(session.resume.releaseHeld(), { pushes: [push], overflowed: false });
});

/** A session whose transport's queue the test sets, counting how often the writer reads it. */
function slowSetup(maxOutboundBytes: number) {
  const sent: string[] = [];
  const metrics = new GatewayMetrics();
  const writer = new SessionWriter(metrics, { maxOutboundBytes });
  const slow: Session[] = [];
  writer.onSlowConsumer((s) => slow.push(s));
  const transport = {
    kind: "websocket" as const,
    queued: 0,
    reads: 0,
    get outboundBytes() {
      this.reads++;
      return this.queued;
    },
    write: (text: string) => (sent.push(text), utf8ByteLength(text)),
    close: () => {},
  };
  const session = new SessionManager().create(transport, "a");
  return { sent, metrics, writer, slow, transport, session };
}

Deno.test("SessionWriter reads a transport's queue once per sixteenth of the limit written", () => {
  const { writer, transport, session } = slowSetup(64 * 1024);
  const text = "x".repeat(100); // 4 KiB is a sixteenth: one read per 41 writes
  for (let i = 0; i < 410; i++) writer.write(session, text);
  assert.equal(transport.reads, 10);
});

Deno.test("SessionWriter drops unreliable pushes past half the limit, keeps reliable ones", () => {
  const { sent, metrics, writer, transport, session, slow } = slowSetup(64 * 1024);
  transport.queued = 40 * 1024;
  writer.write(session, "x".repeat(4096)); // crosses a sixteenth: the queue is read
  assert.equal(session.congested, true);
  assert.equal(writer.sendPush(session, encodePush("pos", 1, { unreliable: true })), false);
  assert.equal(writer.sendPush(session, encodePush("chat", 2)), true);
  assert.equal(sent.length, 2);
  assert.equal(metrics.outboundDropped.slow_consumer_unreliable, 1);
  assert.deepEqual(slow, []);
});

Deno.test("SessionWriter lets unreliable pushes through again once the queue drained", () => {
  const { sent, writer, transport, session } = slowSetup(64 * 1024);
  transport.queued = 40 * 1024;
  writer.write(session, "x".repeat(4096));
  transport.queued = 0;
  const push = encodePush("pos", "y".repeat(1000), { unreliable: true });
  let dropped = 0;
  for (let i = 0; i < 10; i++) if (!writer.sendPush(session, push)) dropped++;
  // Dropped pushes count towards the next read, so the drained queue is seen within 4 KiB.
  assert.ok(dropped >= 1 && dropped <= 5, `${dropped} dropped`);
  assert.equal(session.congested, false);
  assert.equal(sent.length, 1 + 10 - dropped);
});

Deno.test("SessionWriter hands a session past the limit over as a slow consumer, unsent", () => {
  const { sent, metrics, writer, transport, session, slow } = slowSetup(64 * 1024);
  transport.queued = 65 * 1024;
  assert.equal(writer.write(session, "x".repeat(4096)), false);
  assert.deepEqual(sent, []);
  assert.deepEqual(slow, [session]);
  assert.equal(metrics.outboundDropped.slow_consumer_closed, 1);
});

Deno.test("SessionWriter keeps a resumable slow consumer's message for its resume", () => {
  const { sent, writer, transport, session, slow } = slowSetup(64 * 1024);
  new ResumeTokens("n", { maxBytes: 100_000, maxMessages: 16 }).issue(session);
  transport.queued = 65 * 1024;
  assert.equal(writer.write(session, `"${"x".repeat(4096)}"`), false);
  assert.deepEqual(sent, []);
  assert.deepEqual(slow, [session]);
  assert.equal(session.resume!.after(0)?.length, 1, "kept, to be replayed on resume");
});

Deno.test("SessionWriter without a limit never reads the transport's queue", () => {
  const sent: string[] = [];
  const writer = new SessionWriter(new GatewayMetrics());
  let reads = 0;
  const session = new SessionManager().create({
    kind: "websocket",
    get outboundBytes() {
      reads++;
      return 1e12;
    },
    write: (text: string) => (sent.push(text), utf8ByteLength(text)),
    close: () => {},
  }, "a");
  for (let i = 0; i < 1000; i++) writer.write(session, "x".repeat(1000));
  assert.equal(reads, 0);
  assert.equal(sent.length, 1000);
});

Deno.test("SessionWriter closes a congested session whose queue passed the limit, counted once", () => {
  const { metrics, writer, transport, session, slow } = slowSetup(64 * 1024);
  transport.queued = 40 * 1024;
  writer.write(session, "x".repeat(4096)); // read: congested
  transport.queued = 70 * 1024;
  const push = encodePush("pos", "y".repeat(1000), { unreliable: true });
  // About 1 KiB each: three are dropped before the 4 KiB that make the next read due.
  for (let i = 0; i < 3; i++) writer.sendPush(session, push);
  assert.equal(metrics.outboundDropped.slow_consumer_unreliable, 3);
  assert.deepEqual(slow, []);
  writer.sendPush(session, push); // crosses a sixteenth: read, past the limit
  assert.deepEqual(slow, [session]);
  assert.equal(metrics.outboundDropped.slow_consumer_closed, 1);
  assert.equal(metrics.outboundDropped.slow_consumer_unreliable, 3, "not also counted dropped");
});
