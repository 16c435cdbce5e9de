/**
 * Frames RFC 6455 forbids: unmasked client frames (close 1002) and text that is not UTF-8
 * (close 1007). The `gateway` engine's parser refuses both with the RFC's code; `deno`
 * answers an unmasked frame normally and drops bad UTF-8 without a close frame.
 */
import assert from "node:assert/strict";
import { startTestGateway } from "../_helpers.ts";
import { encodeFrame, RawWebSocket } from "../_raw_websocket.ts";
import type { WebSocketEngineName } from "../../src/config/config.ts";

const TEXT = 0x1;
const CLOSE = 0x8;
const encoder = new TextEncoder();
const UNMASKED_PING = encodeFrame(TEXT, encoder.encode('{"type":"ping","id":1}'), {
  masked: false,
});
const BAD_UTF8 = encodeFrame(TEXT, new Uint8Array([0x22, 0xff, 0xfe, 0x22]));

/** Sends `frame` on a fresh session and returns the first frame back (null: closed). */
async function answerTo(engine: WebSocketEngineName, frame: Uint8Array) {
  await using gateway = startTestGateway({ websocket: { engine } });
  const raw = await RawWebSocket.connect(gateway.websocketAddr!.port, "/ws");
  try {
    await raw.write(frame);
    const answer = await raw.readFrame();
    const closeCode = answer?.opcode === CLOSE ? (answer.payload[0] << 8) | answer.payload[1] : 0;
    return { answer, closeCode, disconnects: new Map(gateway.metrics.disconnects) };
  } finally {
    raw.close();
  }
}

Deno.test("gateway engine: an unmasked frame is closed with 1002", async () => {
  const { closeCode, disconnects } = await answerTo("gateway", UNMASKED_PING);
  assert.equal(closeCode, 1002);
  assert.equal(disconnects.get("protocol_violation"), 1);
});

Deno.test("gateway engine: invalid UTF-8 text is closed with 1007", async () => {
  const { closeCode, disconnects } = await answerTo("gateway", BAD_UTF8);
  assert.equal(closeCode, 1007);
  assert.equal(disconnects.get("invalid_text"), 1);
});

Deno.test("deno engine: an unmasked frame is answered as if masked (documented limit)", async () => {
  const { answer } = await answerTo("deno", UNMASKED_PING);
  assert.equal(answer?.opcode, TEXT);
  assert.equal(JSON.parse(new TextDecoder().decode(answer!.payload)).type, "pong");
});

Deno.test("deno engine: invalid UTF-8 text drops the connection without a close frame (documented limit)", async () => {
  const { answer } = await answerTo("deno", BAD_UTF8);
  assert.equal(answer, null);
});
