import assert from "node:assert/strict";
import {
  decodeEnvelope,
  encodeError,
  encodeResponse,
  ErrorCode,
  utf8ByteLength,
} from "../../src/core/protocol.ts";

Deno.test("decodeEnvelope accepts envelopes and rejects everything else with a code", () => {
  assert.deepEqual(decodeEnvelope('{"type":"ping","id":7}'), {
    ok: true,
    envelope: { type: "ping", id: 7 },
  });
  const cases: Array<[string, string, number | undefined]> = [
    ["{", ErrorCode.badJson, undefined],
    ["null", ErrorCode.badEnvelope, undefined],
    ['"ping"', ErrorCode.badEnvelope, undefined],
    ["[]", ErrorCode.badEnvelope, undefined],
    ['{"id":1}', ErrorCode.badEnvelope, 1],
    ['{"type":""}', ErrorCode.badEnvelope, undefined],
    ['{"type":5}', ErrorCode.badEnvelope, undefined],
    ['{"type":"ping","id":-1}', ErrorCode.badEnvelope, undefined],
    ['{"type":"ping","id":1.5}', ErrorCode.badEnvelope, undefined],
    ['{"type":"ping","id":"7"}', ErrorCode.badEnvelope, undefined],
    ['{"type":"request","id":2,"route":7}', ErrorCode.badEnvelope, 2],
    [`{"type":"request","id":3,"route":"${"r".repeat(300)}"}`, ErrorCode.badEnvelope, 3],
  ];
  for (const [text, code, id] of cases) {
    const result = decodeEnvelope(text);
    assert.equal(result.ok, false, text);
    if (!result.ok) {
      assert.equal(result.code, code, text);
      assert.equal(result.id, id, text);
      assert.match(result.message, /^[A-Z]/);
    }
  }
});

Deno.test("encodeError echoes the id only when there is one", () => {
  assert.deepEqual(JSON.parse(encodeError(ErrorCode.badJson, "Bad")), {
    type: "error",
    code: "bad_json",
    message: "Bad",
  });
  assert.deepEqual(JSON.parse(encodeError(ErrorCode.unknownType, "Bad", 4)), {
    type: "error",
    id: 4,
    code: "unknown_type",
    message: "Bad",
  });
});

Deno.test("encodeResponse writes what JSON.stringify of the envelope would, or throws", () => {
  for (const data of [undefined, null, 0, "é", [1, { a: "b" }], { nested: { deep: true } }]) {
    assert.equal(encodeResponse(7, data), JSON.stringify({ type: "response", id: 7, data }));
  }
  assert.equal(encodeResponse(1, () => {}), '{"type":"response","id":1}');
  assert.throws(() => encodeResponse(1, 1n), TypeError);
});

Deno.test("utf8ByteLength matches TextEncoder", () => {
  for (const text of ["", "abc", "héllo", "日本語", "🎮 game", "\u{10ffff}x", "a\u0800b"]) {
    assert.equal(utf8ByteLength(text), new TextEncoder().encode(text).length, text);
  }
});
