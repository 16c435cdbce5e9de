import assert from "node:assert/strict";
import { backoffDelay } from "../../src/client/backoff.ts";

Deno.test("backoffDelay grows exponentially and stays between half and all of each step", () => {
  const options = { initialDelayMs: 100, maxDelayMs: 10_000, multiplier: 2 };
  const steps = [100, 200, 400, 800, 1_600, 3_200, 6_400, 10_000, 10_000];
  steps.forEach((step, attempt) => {
    assert.equal(backoffDelay(attempt, { ...options, random: () => 0 }), step / 2);
    assert.equal(backoffDelay(attempt, { ...options, random: () => 0.999999 }), step);
  });
});

Deno.test("backoffDelay spreads clients apart with jitter, never above the cap", () => {
  const delays = Array.from({ length: 1_000 }, () => backoffDelay(20, { maxDelayMs: 8_000 }));
  assert.ok(delays.every((delay) => delay >= 4_000 && delay <= 8_000), "outside [cap/2, cap]");
  assert.ok(new Set(delays).size > 100, "jitter should spread the delays");
});

Deno.test("backoffDelay refuses a negative or fractional attempt", () => {
  assert.throws(() => backoffDelay(-1), RangeError);
  assert.throws(() => backoffDelay(1.5), RangeError);
});
