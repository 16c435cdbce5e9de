import assert from "node:assert/strict";
import { FlushScheduler, joinEnvelopes } from "../../src/core/frame_coalescer.ts";

Deno.test("joinEnvelopes sends one envelope as it is and several as a JSON array", () => {
  assert.equal(joinEnvelopes(['{"type":"pong"}']), '{"type":"pong"}');
  const joined = joinEnvelopes(['{"a":1}', '{"b":2}', '{"c":3}']);
  assert.deepEqual(JSON.parse(joined), [{ a: 1 }, { b: 2 }, { c: 3 }]);
});

Deno.test("FlushScheduler flushes each connection once, after the current turn's code", async () => {
  const scheduler = new FlushScheduler();
  const events: string[] = [];
  const output = (name: string) => ({ flushPending: () => events.push(`flush ${name}`) });
  scheduler.schedule(output("a"));
  scheduler.schedule(output("b"));
  events.push("turn ends");
  await Promise.resolve();
  await Promise.resolve();
  assert.deepEqual(events, ["turn ends", "flush a", "flush b"]);
  scheduler.schedule(output("c"));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(events.at(-1), "flush c", "a later turn schedules a new flush");
});
