import assert from "node:assert/strict";
import { DisconnectTransportError } from "../../src/core/disconnect.ts";
import { encodePush } from "../../src/core/protocol.ts";
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
    write: (text: string) => (sent.push(text), true),
    writeDatagram: datagrams ? (text: string) => (sent.push(`datagram ${text}`), true) : undefined,
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
