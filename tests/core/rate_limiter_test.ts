import assert from "node:assert/strict";
import {
  RateLimiter,
  RateVerdict,
  SESSION_BUCKET_LABEL,
  type SessionRate,
  TokenBucket,
} from "../../src/core/rate_limiter.ts";

function holder(): { rate: SessionRate | undefined } {
  return { rate: undefined };
}

Deno.test("TokenBucket lets a full burst through at once, then refuses", () => {
  const limit = { perSec: 10, burst: 3 };
  const bucket = new TokenBucket(limit, 0);
  assert.deepEqual([1, 2, 3, 4].map(() => bucket.take(limit, 0)), [true, true, true, false]);
});

Deno.test("TokenBucket refills continuously at its rate and never past its burst", () => {
  const limit = { perSec: 10, burst: 2 };
  const bucket = new TokenBucket(limit, 0);
  bucket.take(limit, 0);
  bucket.take(limit, 0);
  assert.equal(bucket.take(limit, 50), false, "half a token after 50 ms");
  assert.equal(bucket.take(limit, 100), true, "a whole one after 100 ms");
  assert.equal(bucket.take(limit, 100), false);
  // An hour idle refills to the burst, not to 36,000.
  const later = 3_600_000;
  assert.deepEqual([1, 2, 3].map(() => bucket.take(limit, later)), [true, true, false]);
});

Deno.test("TokenBucket keeps fractional rates: 0.5 per second is one message every 2 s", () => {
  const limit = { perSec: 0.5, burst: 1 };
  const bucket = new TokenBucket(limit, 0);
  assert.equal(bucket.take(limit, 0), true);
  assert.equal(bucket.take(limit, 1_000), false);
  assert.equal(bucket.take(limit, 1_999), false);
  assert.equal(bucket.take(limit, 2_000), true);
});

Deno.test("TokenBucket ignores a clock that goes backwards", () => {
  const limit = { perSec: 1, burst: 1 };
  const bucket = new TokenBucket(limit, 1_000);
  assert.equal(bucket.take(limit, 1_000), true);
  assert.equal(bucket.take(limit, 0), false);
  assert.equal(bucket.take(limit, 2_000), true);
});

Deno.test("RateLimiter is absent when no limit is on", () => {
  const off = { messagesPerSec: 0, burst: 1, maxViolations: 1, violationWindowMs: 1_000 };
  assert.equal(RateLimiter.from(off), undefined);
  assert.ok(RateLimiter.from({ ...off, routes: { "chat.say": { per_sec: 1, burst: 1 } } }));
  assert.ok(RateLimiter.from({ ...off, messagesPerSec: 1 }));
});

Deno.test("RateLimiter refuses past the session bucket and closes past max violations", () => {
  const limiter = new RateLimiter({
    messagesPerSec: 1,
    burst: 2,
    maxViolations: 2,
    violationWindowMs: 1_000,
  });
  const session = holder();
  const verdicts = [0, 0, 0, 0, 0].map(() => limiter.admit(session, "echo", 0));
  assert.deepEqual(verdicts, [
    RateVerdict.admitted,
    RateVerdict.admitted,
    RateVerdict.limited,
    RateVerdict.limited,
    RateVerdict.close,
  ]);
  assert.equal(limiter.refusedBy, SESSION_BUCKET_LABEL);
});

Deno.test("RateLimiter counts violations per window: a new window starts from zero", () => {
  const limiter = new RateLimiter({
    messagesPerSec: 1,
    burst: 1,
    maxViolations: 1,
    violationWindowMs: 1_000,
  });
  const session = holder();
  assert.equal(limiter.admit(session, undefined, 0), RateVerdict.admitted);
  assert.equal(limiter.admit(session, undefined, 0), RateVerdict.limited);
  // 1.5 s later: a token came back, and the window of the first refusal is over.
  assert.equal(limiter.admit(session, undefined, 1_500), RateVerdict.admitted);
  assert.equal(limiter.admit(session, undefined, 1_500), RateVerdict.limited);
  assert.equal(limiter.admit(session, undefined, 1_500), RateVerdict.close);
});

Deno.test("RateLimiter applies a route's bucket on top of the session's, per session", () => {
  const limiter = new RateLimiter({
    messagesPerSec: 100,
    burst: 100,
    routes: { "chat.say": { per_sec: 1, burst: 2 } },
    maxViolations: 10,
    violationWindowMs: 1_000,
  });
  const [a, b] = [holder(), holder()];
  assert.equal(limiter.admit(a, "chat.say", 0), RateVerdict.admitted);
  assert.equal(limiter.admit(a, "chat.say", 0), RateVerdict.admitted);
  assert.equal(limiter.admit(a, "chat.say", 0), RateVerdict.limited);
  assert.equal(limiter.refusedBy, "chat.say");
  assert.equal(limiter.admit(a, "echo", 0), RateVerdict.admitted, "other routes unaffected");
  assert.equal(limiter.admit(b, "chat.say", 0), RateVerdict.admitted, "another session's own");
  assert.deepEqual(limiter.limitedRoutes, ["chat.say"]);
});

Deno.test("RateLimiter with only route buckets leaves other messages alone", () => {
  const limiter = new RateLimiter({
    messagesPerSec: 0,
    burst: 1,
    routes: { "chat.say": { per_sec: 1, burst: 1 } },
    maxViolations: 10,
    violationWindowMs: 1_000,
  });
  const session = holder();
  for (let i = 0; i < 1_000; i++) {
    assert.equal(limiter.admit(session, "echo", 0), RateVerdict.admitted);
  }
  assert.equal(limiter.admit(session, "chat.say", 0), RateVerdict.admitted);
  assert.equal(limiter.admit(session, "chat.say", 0), RateVerdict.limited);
});
