import assert from "node:assert/strict";
import { decodeCursor, encodeCursor } from "../../src/ops/admin_cursor.ts";

Deno.test("admin cursor: survives encoding, as base64url without padding", () => {
  const cursor = { node: "gw-a-w1", session: "0b6c0c8e-5c8a-4a59-9b1e-2f0e8c9d7a11" };
  const text = encodeCursor(cursor);
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(decodeCursor(text), cursor);
  const odd = { node: "ñ/+?", session: "x".repeat(256) };
  assert.deepEqual(decodeCursor(encodeCursor(odd)), odd);
});

Deno.test("admin cursor: anything this gateway did not make is refused with a reason", () => {
  const b64 = (json: string) =>
    btoa(json).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  const cases: [string, RegExp][] = [
    ["", /base64url characters/],
    ["abc=", /base64url characters/],
    ["a".repeat(1025), /base64url characters/],
    ["a", /not base64url JSON/],
    [b64("not json"), /not base64url JSON/],
    [b64("[1]"), /not a JSON object/],
    [b64('{"v":2,"n":"a","s":"b"}'), /not made by this gateway/],
    [b64('{"v":1,"n":"a"}'), /not made by this gateway/],
    [b64('{"v":1,"n":"","s":"b"}'), /not made by this gateway/],
    [b64('{"v":1,"n":"a","s":5}'), /not made by this gateway/],
    [b64('{"v":1,"n":"a","s":"b","x":1}'), /not made by this gateway/],
    [b64(`{"v":1,"n":"a","s":"${"b".repeat(257)}"}`), /not made by this gateway/],
    [b64('{"v":1,"n":"a","s":"\xff"}'), /not base64url JSON/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => decodeCursor(text), { name: "TypeError", message }, text.slice(0, 40));
  }
});
