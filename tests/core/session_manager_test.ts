import assert from "node:assert/strict";
import {
  type Disconnect,
  DisconnectClientClosed,
  DisconnectHeartbeatTimeout,
  DisconnectShutdown,
  DisconnectTransportError,
} from "../../src/core/disconnect.ts";
import { ResumeTokens } from "../../src/core/resume_token.ts";
import type { Session } from "../../src/core/session.ts";
import { SessionManager } from "../../src/core/session_manager.ts";
import type { Transport, TransportKind } from "../../src/core/transport.ts";

function transport(kind: TransportKind, closes: Disconnect[] = []): Transport {
  return {
    kind,
    outboundBytes: 0,
    write: (text: string) => text.length,
    close: (d) => void closes.push(d),
  };
}

Deno.test("SessionManager creates, looks up, counts by transport and iterates", () => {
  let now = 5;
  let id = 0;
  const manager = new SessionManager({ now: () => now, newId: () => `id${++id}` });
  const a = manager.create(transport("websocket"), "1.2.3.4:5");
  const b = manager.create(transport("quic"), "1.2.3.4:6");
  manager.create(transport("websocket"), "1.2.3.4:7");
  assert.deepEqual(
    [a.id, a.kind, a.remoteAddr, a.createdAt, a.lastSeenAt],
    ["id1", "websocket", "1.2.3.4:5", 5, 5],
  );
  assert.equal(manager.get("id2"), b);
  assert.deepEqual([manager.size, manager.count("websocket"), manager.count("quic")], [3, 2, 1]);
  assert.deepEqual([...manager.values()].map((s) => s.id), ["id1", "id2", "id3"]);
  now = 9;
  manager.touch(a);
  assert.equal(a.lastSeenAt, 9);
});

Deno.test("SessionManager closes once, tells observers why, and closes the transport", () => {
  const events: string[] = [];
  const manager = new SessionManager({
    events: {
      onSessionOpened: (s) => events.push(`open ${s.remoteAddr}`),
      onSessionClosed: (s, d) => events.push(`close ${s.remoteAddr} ${d.label}`),
    },
  });
  const closes: Disconnect[] = [];
  const a = manager.create(transport("websocket", closes), "a");
  const b = manager.create(transport("websocket", closes), "b");
  assert.equal(manager.close(a, DisconnectShutdown), true);
  assert.equal(manager.close(a, DisconnectShutdown), false);
  assert.equal(manager.closedByTransport(a), false);
  assert.equal(manager.closedByTransport(b, DisconnectClientClosed), true);
  assert.deepEqual(
    closes,
    [DisconnectShutdown],
    "a transport that closed itself is not closed again",
  );
  assert.deepEqual(events, ["open a", "open b", "close a shutdown", "close b client_closed"]);
  assert.equal(manager.count("websocket"), 0);
});

Deno.test("SessionManager.closeAll closes every session, even while iterating", () => {
  const manager = new SessionManager();
  const sessions: Session[] = [];
  for (let i = 0; i < 10; i++) sessions.push(manager.create(transport("quic"), `${i}`));
  assert.equal(manager.closeAll(DisconnectShutdown), 10);
  assert.equal(manager.size, 0);
  assert.equal(manager.closeAll(DisconnectShutdown), 0);
});

Deno.test("SessionManager detaches a resumable session on a drop and ends it on a goodbye", () => {
  const events: string[] = [];
  let id = 0;
  const manager = new SessionManager({
    newId: () => `id${++id}`,
    events: {
      onSessionClosed: (s, d) => events.push(`close ${s.remoteAddr} ${d.label}`),
      onSessionDetached: (s, d) => events.push(`detach ${s.remoteAddr} ${d.label}`),
    },
  });
  const tokens = new ResumeTokens("n", { maxBytes: 1024, maxMessages: 16 });
  const closes: Disconnect[] = [];
  const a = manager.create(transport("websocket", closes), "a");
  const b = manager.create(transport("websocket", closes), "b");
  const plain = manager.create(transport("quic", closes), "plain");
  tokens.issue(a);
  tokens.issue(b);
  assert.equal(manager.close(a, DisconnectHeartbeatTimeout), true);
  assert.equal(manager.close(a, DisconnectHeartbeatTimeout), false, "detached already");
  assert.equal(manager.closedByTransport(b, DisconnectClientClosed), true);
  assert.equal(manager.closedByTransport(plain, DisconnectTransportError), true);
  assert.deepEqual(events, [
    "detach a heartbeat_timeout",
    "close b client_closed",
    "close plain transport_error",
  ]);
  assert.deepEqual(closes, [DisconnectHeartbeatTimeout], "the detached one's connection closed");
  assert.deepEqual([manager.size, manager.detachedCount, manager.count("websocket")], [1, 1, 0]);
  assert.equal(a.state, "detached");
  assert.equal(a.transport.write("x"), -1, "a detached session sends nothing");
  assert.equal(manager.close(a, DisconnectShutdown), true, "a non-detaching close ends it");
  assert.deepEqual([manager.size, manager.detachedCount], [0, 0]);
});

Deno.test("SessionManager.rekey moves a session to another id; restore registers a detached one", () => {
  const manager = new SessionManager({ newId: () => "temp" });
  const session = manager.create(transport("websocket"), "a");
  const held = manager.restore("moved", "quic", 5)!;
  assert.deepEqual([held.state, held.createdAt, manager.detachedCount], ["detached", 5, 1]);
  assert.equal(manager.restore("moved", "quic", 5), undefined, "the id is taken");
  assert.throws(() => manager.rekey(session, "moved"), RangeError);
  manager.end(held, DisconnectShutdown);
  manager.rekey(session, "moved");
  assert.equal(session.id, "moved");
  assert.equal(manager.get("moved"), session);
  assert.equal(manager.get("temp"), undefined);
});

Deno.test("SessionManager.empty resolves once the last session has gone", async () => {
  const manager = new SessionManager();
  await manager.empty();
  const session = manager.create(transport("websocket"), "a");
  let resolved = false;
  const empty = manager.empty().then(() => resolved = true);
  await Promise.resolve();
  assert.equal(resolved, false);
  manager.close(session, DisconnectShutdown);
  await empty;
});
