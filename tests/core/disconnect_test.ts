import assert from "node:assert/strict";
import {
  DisconnectKicked,
  DisconnectShutdown,
  MAX_REASON_BYTES,
  withReason,
} from "../../src/core/disconnect.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;

Deno.test("withReason keeps the code, label and advice and takes the operator's words", () => {
  const kicked = withReason(DisconnectKicked, "cheating, see ticket 42");
  assert.deepEqual(kicked, {
    code: 4505,
    reason: "cheating, see ticket 42",
    reconnect: false,
    label: "kicked",
    detach: false,
  });
  assert.ok(Object.isFrozen(kicked));
  assert.equal(DisconnectKicked.reason, "kicked", "the table's value is untouched");
  assert.equal(withReason(DisconnectShutdown, "maintenance").code, 1001);
});

Deno.test("withReason turns control characters into spaces and falls back when nothing is left", () => {
  assert.equal(withReason(DisconnectKicked, "bye\r\nnow\u0000\u007f!").reason, "bye now !");
  assert.equal(withReason(DisconnectKicked, "").reason, "kicked");
  assert.equal(withReason(DisconnectKicked, " \t\n ").reason, "kicked");
});

Deno.test("withReason cuts to 123 UTF-8 bytes without splitting a character", () => {
  assert.equal(withReason(DisconnectKicked, "a".repeat(500)).reason, "a".repeat(MAX_REASON_BYTES));
  // 3-byte characters: 41 fit (123 bytes), the 42nd does not.
  const euros = withReason(DisconnectKicked, "€".repeat(60)).reason;
  assert.equal(euros, "€".repeat(41));
  // A 4-byte character (a surrogate pair) that would cross the limit is left out whole.
  const mixed = withReason(DisconnectKicked, "a".repeat(121) + "😀b").reason;
  assert.equal(mixed, "a".repeat(121));
  assert.ok(bytes(mixed) <= MAX_REASON_BYTES);
});
