import assert from "node:assert/strict";
import { DisconnectHeartbeatTimeout } from "../../src/core/disconnect.ts";
import {
  findIdleSessions,
  HeartbeatSweeper,
  type Scheduler,
} from "../../src/core/heartbeat_sweeper.ts";
import { SessionManager } from "../../src/core/session_manager.ts";
import type { Disconnect } from "../../src/core/disconnect.ts";
import type { Transport } from "../../src/core/transport.ts";

/** A clock and an interval scheduler driven by hand. */
function manualTime() {
  let now = 1_000_000;
  const timers = new Map<number, { fn: () => void; every: number; next: number }>();
  let nextId = 1;
  const scheduler: Scheduler = {
    every(fn, ms) {
      const id = nextId++;
      timers.set(id, { fn, every: ms, next: now + ms });
      return () => timers.delete(id);
    },
  };
  return {
    now: () => now,
    scheduler,
    timers,
    advance(ms: number) {
      const end = now + ms;
      while (true) {
        const due = [...timers.values()].filter((t) =>
          t.next <= end
        ).sort((a, b) => a.next - b.next)[0];
        if (!due) break;
        now = due.next;
        due.next += due.every;
        due.fn();
      }
      now = end;
    },
  };
}

function fakeTransport(closes: Disconnect[]): Transport {
  return {
    kind: "websocket",
    outboundBytes: 0,
    write: (text: string) => text.length,
    close: (d) => void closes.push(d),
  };
}

Deno.test("findIdleSessions returns only sessions silent for longer than the TTL", () => {
  const time = manualTime();
  const manager = new SessionManager({ now: time.now });
  const fresh = manager.create(fakeTransport([]), "a");
  const stale = manager.create(fakeTransport([]), "b");
  stale.lastSeenAt -= 60_001;
  fresh.lastSeenAt -= 60_000; // exactly at the TTL is still alive
  const detached = manager.create(fakeTransport([]), "c");
  detached.lastSeenAt -= 120_000;
  detached.state = "detached"; // no connection to be silent on: its resume window bounds it
  assert.deepEqual(findIdleSessions(manager.values(), time.now(), 60_000), [stale]);
});

Deno.test("HeartbeatSweeper closes sessions idle past the TTL on its interval", () => {
  const time = manualTime();
  const manager = new SessionManager({ now: time.now });
  const closes: Disconnect[] = [];
  const quiet = manager.create(fakeTransport(closes), "quiet");
  const chatty = manager.create(fakeTransport(closes), "chatty");
  const sweeps: number[] = [];
  using sweeper = new HeartbeatSweeper(manager, {
    ttlMs: 60_000,
    intervalMs: 10_000,
    now: time.now,
    scheduler: time.scheduler,
    onSweep: (closed) => sweeps.push(closed),
  });
  sweeper.start();
  for (let t = 0; t < 6; t++) {
    time.advance(10_000);
    manager.touch(chatty);
  }
  assert.equal(manager.size, 2, "nobody is past the TTL at exactly 60 s");
  time.advance(10_000);
  assert.equal(manager.get(quiet.id), undefined);
  assert.equal(manager.get(chatty.id), chatty);
  assert.deepEqual(closes, [DisconnectHeartbeatTimeout]);
  assert.deepEqual(sweeps, [0, 0, 0, 0, 0, 0, 1]);
});

Deno.test("HeartbeatSweeper pings sessions silent for half the TTL, where the transport can", () => {
  const time = manualTime();
  const manager = new SessionManager({ now: time.now });
  const pings: string[] = [];
  const pingable = (name: string): Transport => ({
    ...fakeTransport([]),
    ping: () => {
      pings.push(name);
      return true;
    },
  });
  const quiet = manager.create(pingable("quiet"), "quiet");
  const chatty = manager.create(pingable("chatty"), "chatty");
  manager.create(fakeTransport([]), "no ping"); // Deno's engine pings by itself
  using sweeper = new HeartbeatSweeper(manager, {
    ttlMs: 4_000,
    intervalMs: 1_000,
    now: time.now,
    scheduler: time.scheduler,
  });
  sweeper.start();
  time.advance(2_000);
  manager.touch(chatty);
  assert.deepEqual(pings, [], "nobody is silent past half the TTL yet");
  time.advance(1_000);
  assert.deepEqual(pings, ["quiet"]);
  manager.touch(quiet); // its pong
  time.advance(3_000);
  assert.equal(manager.get(quiet.id), quiet, "a client that answers pings stays");
  assert.deepEqual(pings, ["quiet", "chatty", "quiet", "chatty"]);
});

Deno.test("HeartbeatSweeper stops on dispose, on stop twice and on abort", () => {
  const time = manualTime();
  const manager = new SessionManager({ now: time.now });
  const controller = new AbortController();
  const sweeper = new HeartbeatSweeper(manager, {
    ttlMs: 1_000,
    intervalMs: 500,
    now: time.now,
    scheduler: time.scheduler,
    signal: controller.signal,
  });
  sweeper.start();
  assert.equal(time.timers.size, 1);
  controller.abort();
  assert.equal(time.timers.size, 0);
  sweeper.stop();
  sweeper.start();
  assert.equal(time.timers.size, 0, "an aborted sweeper must not restart");
});

Deno.test("a sweep over 20,000 sessions closes exactly the idle ones", () => {
  const time = manualTime();
  const manager = new SessionManager({ now: time.now });
  const closes: Disconnect[] = [];
  for (let i = 0; i < 20_000; i++) {
    const session = manager.create(fakeTransport(closes), `s${i}`);
    if (i % 4 === 0) session.lastSeenAt -= 61_000;
  }
  const sweeper = new HeartbeatSweeper(manager, {
    ttlMs: 60_000,
    intervalMs: 10_000,
    now: time.now,
  });
  assert.equal(sweeper.sweep(), 5_000);
  assert.equal(manager.size, 15_000);
  assert.equal(closes.length, 5_000);
});
