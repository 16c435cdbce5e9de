import assert from "node:assert/strict";
import { DisconnectClientClosed } from "../../src/core/disconnect.ts";
import { Hub } from "../../src/services/hub.ts";
import type { Session } from "../../src/core/session.ts";
import { SessionManager } from "../../src/core/session_manager.ts";

function push(text: string) {
  return { text, unreliable: false };
}

function setup() {
  const written = new Map<string, string[]>();
  const manager = new SessionManager();
  const hub = new Hub(manager, {
    sendPush(session, push) {
      written.set(session.remoteAddr, [...written.get(session.remoteAddr) ?? [], push.text]);
      return true;
    },
  });
  manager.observe(hub);
  const open = (name: string): Session =>
    manager.create(
      {
        kind: "websocket",
        outboundBytes: 0,
        write: (text: string) => text.length,
        close: () => {},
      },
      name,
    );
  return { manager, hub, written, open };
}

Deno.test("Hub delivers to a group, a user, one session and everyone", () => {
  const { hub, written, open } = setup();
  const [a, b, c] = [open("a"), open("b"), open("c")];
  hub.join(a, "room");
  hub.join(b, "room");
  hub.bindUser(b, "u1");
  hub.bindUser(c, "u1");
  assert.equal(hub.deliverToGroup("room", push("g")), 2);
  assert.equal(hub.deliverToGroup("room", push("g2"), a.id), 1);
  assert.equal(hub.deliverToUser("u1", push("u")), 2);
  assert.equal(hub.deliverToSession(c.id, push("s")), 1);
  assert.equal(hub.deliverToAll(push("all")), 3);
  assert.equal(hub.deliverToGroup("nobody", push("x")), 0);
  assert.deepEqual(Object.fromEntries(written), {
    a: ["g", "all"],
    b: ["g", "g2", "u", "all"],
    c: ["u", "s", "all"],
  });
});

Deno.test("Hub empties groups and user entries as sessions leave and close", () => {
  const { manager, hub, open } = setup();
  const a = open("a");
  const b = open("b");
  hub.join(a, "g1");
  hub.join(a, "g2");
  hub.join(b, "g1");
  hub.bindUser(a, "user");
  assert.deepEqual([...hub.groupsOf(a)].sort(), ["g1", "g2"]);
  hub.leave(a, "g2");
  assert.equal(hub.groupSize("g2"), 0);
  assert.equal(hub.groupCount, 1, "an emptied group is deleted");
  manager.closedByTransport(a, DisconnectClientClosed);
  assert.equal(hub.groupSize("g1"), 1);
  assert.equal(hub.userCount, 0);
  manager.closedByTransport(b, DisconnectClientClosed);
  assert.equal(hub.groupCount, 0);
  hub.join(a, "late");
  assert.equal(hub.groupCount, 0, "a closed session cannot join");
});

Deno.test("Hub rebinding a session moves it to the new user", () => {
  const { hub, open } = setup();
  const a = open("a");
  hub.bindUser(a, "first");
  hub.bindUser(a, "second");
  assert.equal(hub.deliverToUser("first", push("x")), 0);
  assert.equal(hub.deliverToUser("second", push("x")), 1);
  assert.equal(hub.userCount, 1);
  assert.throws(() => hub.bindUser(a, ""), /Invalid user id/);
  assert.throws(() => hub.join(a, "x".repeat(300)), /Invalid group name/);
});

Deno.test("no group or user entry survives 19,000 sessions coming and going", () => {
  const { manager, hub, open } = setup();
  for (let round = 0; round < 2; round++) {
    const sessions = Array.from({ length: 19_000 }, (_, i) => open(`s${i}`));
    sessions.forEach((s, i) => {
      hub.join(s, `room-${i % 100}`);
      hub.join(s, "world");
      hub.bindUser(s, `user-${i}`);
    });
    assert.equal(hub.groupCount, 101);
    for (const s of sessions) manager.closedByTransport(s, DisconnectClientClosed);
    assert.deepEqual([hub.groupCount, hub.userCount, manager.size], [0, 0, 0]);
  }
});
