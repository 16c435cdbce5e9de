import assert from "node:assert/strict";
import { closeAction } from "../../src/client/close_policy.ts";

Deno.test("closeAction reconnects with backoff after 4000–4499 and dropped connections", () => {
  for (const code of [4000, 4001, 4002, 4100, 4499, 1001, 1005, 1006, 1009, 1011, 1012, 1013]) {
    assert.equal(closeAction(code), "backoff", `code ${code}`);
  }
});

Deno.test("closeAction reconnects at once after 4004 and with a new token after 4003", () => {
  assert.equal(closeAction(4004), "immediate");
  assert.equal(closeAction(4003), "new_token");
});

Deno.test("closeAction never reconnects after 4500–4999, protocol faults or a normal close", () => {
  for (const code of [4500, 4501, 4502, 4503, 4504, 4505, 4999, 1000, 1002, 1003, 1007, 1008]) {
    assert.equal(closeAction(code), "stop", `code ${code}`);
  }
});
