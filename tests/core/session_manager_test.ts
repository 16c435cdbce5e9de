import assert from "node:assert/strict";
import {
  type Disconnect,
  DisconnectClientClosed,
  DisconnectShutdown,
} from "../../src/core/disconnect.ts";
import type { Session } from "../../src/core/session.ts";
import { SessionManager } from "../../src/core/session_manager.ts";
import type { Transport, TransportKind } from "../../src/core/transport.ts";

function transport(kind: TransportKind, closes: Disconnect[] = []): Transport {
  return { kind, outboundBytes: 0, write: () => true, close: (d) => void closes.push(d) };
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
