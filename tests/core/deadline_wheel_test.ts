import assert from "node:assert/strict";
import { DeadlineWheel, type TimerSource } from "../../src/core/deadline_wheel.ts";

/** A clock and one-shot timers the test moves by hand. */
function manualTime() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  const source: TimerSource = {
    after: (fn, ms) => {
      const timer = { at: now + ms, fn, cancelled: false };
      timers.push(timer);
      return () => timer.cancelled = true;
    },
  };
  return {
    source,
    now: () => now,
    pending: () => timers.filter((t) => !t.cancelled).length,
    advance(to: number) {
      now = to;
      for (const timer of timers.splice(0)) {
        if (timer.cancelled) continue;
        if (timer.at <= now) timer.fn();
        else timers.push(timer);
      }
    },
  };
}

Deno.test("DeadlineWheel fires each item once after its deadline, on one timer", () => {
  const time = manualTime();
  const fired: Array<[string, number]> = [];
  const wheel = new DeadlineWheel<string>((item, now) => fired.push([item, now]), {
    tickMs: 100,
    now: time.now,
    timers: time.source,
  });
  wheel.set("a", 250);
  wheel.set("b", 120);
  wheel.set("c", 900);
  wheel.set("d", 260); // the same tick as a
  assert.equal(time.pending(), 1, "one timer, however many items");
  assert.equal(wheel.size, 4);
  time.advance(199);
  assert.deepEqual(fired, []);
  time.advance(200);
  assert.deepEqual(fired, [["b", 200]]);
  wheel.set("c", 280); // moved earlier
  wheel.delete("d");
  time.advance(300);
  assert.deepEqual(fired, [["b", 200], ["a", 300], ["c", 300]]);
  assert.equal(wheel.size, 0);
  assert.equal(time.pending(), 0, "no timer once nothing is due");
  wheel.set("e", Infinity);
  assert.equal(wheel.size, 0, "an infinite deadline is no deadline");
});

Deno.test("DeadlineWheel lets a handler set a new deadline, and stop clears its timer", () => {
  const time = manualTime();
  const fired: number[] = [];
  const wheel: DeadlineWheel<string> = new DeadlineWheel((item, now) => {
    fired.push(now);
    if (fired.length < 3) wheel.set(item, now); // already due: waits for the next firing
  }, { tickMs: 10, now: time.now, timers: time.source });
  wheel.set("x", 10);
  time.advance(10);
  assert.deepEqual(fired, [10]);
  time.advance(10);
  time.advance(10);
  assert.deepEqual(fired, [10, 10, 10]);
  wheel.set("y", 50);
  assert.equal(time.pending(), 1);
  wheel.stop();
  assert.equal(time.pending(), 0);
  assert.equal(wheel.size, 0);
});
