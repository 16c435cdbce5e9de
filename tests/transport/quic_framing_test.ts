import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { encodeFrame, FrameDecoder, type FrameFault } from "../../src/transport/quic_framing.ts";
import { within } from "../_helpers.ts";
import { quicPort, quicTestConfig, rawQuicConnection } from "../_quic_harness.ts";

function decodeAll(max: number, chunks: Uint8Array[], end = false) {
  const frames: string[] = [];
  const faults: FrameFault[] = [];
  const decoder = new FrameDecoder(max, {
    onFrame: (payload) => frames.push(new TextDecoder().decode(payload)),
    onFault: (fault) => faults.push(fault),
  });
  for (const chunk of chunks) decoder.push(chunk);
  if (end) decoder.end();
  return { frames, faults };
}

Deno.test("FrameDecoder reassembles frames split at every byte and joined in one chunk", () => {
  const bytes = new Uint8Array([...encodeFrame("héllo"), ...encodeFrame('{"a":1}')]);
  const split = decodeAll(64, [...bytes].map((b) => new Uint8Array([b])), true);
  assert.deepEqual(split, { frames: ["héllo", '{"a":1}'], faults: [] });
  assert.deepEqual(decodeAll(64, [bytes], true), split);
});

Deno.test("FrameDecoder refuses length 0, lengths over the maximum and truncated frames", () => {
  assert.deepEqual(decodeAll(64, [new Uint8Array(4)]).faults, ["empty_frame"]);
  assert.deepEqual(decodeAll(64, [new Uint8Array([0, 0, 0, 65])]).faults, ["frame_too_big"]);
  assert.deepEqual(decodeAll(64, [new Uint8Array([0xff, 0xff, 0xff, 0xff])]).faults, [
    "frame_too_big",
  ]);
  assert.deepEqual(decodeAll(64, [encodeFrame("hello").subarray(0, 6)], true).faults, [
    "truncated_frame",
  ]);
  assert.deepEqual(decodeAll(64, [new Uint8Array([0, 0])], true).faults, ["truncated_frame"]);
});

for (const engine of ["native", "matrixai"] as const) {
  const cases: Array<[string, Uint8Array, number, string]> = [
    ["length 0", new Uint8Array(4), 1008, "protocol_errors"],
    ["a length over the maximum", new Uint8Array([0, 0x10, 0, 0]), 1009, "message_too_big"],
    ["a truncated frame", encodeFrame('{"type":"ping"}').subarray(0, 9), 1008, "protocol_errors"],
  ];
  for (const [what, bytes, code, label] of cases) {
    Deno.test(`quic ${engine}: ${what} gets an error reply and a clean close with ${code}`, async () => {
      const gateway = startGateway(
        parseConfig({
          websocket: { enabled: false },
          metrics: { enabled: false },
          protocol: { max_message_bytes: 1024 },
          quic: quicTestConfig(engine),
        }),
        { logger: new Logger("error") },
      );
      try {
        const raw = await rawQuicConnection(await quicPort(gateway), engine);
        raw.connection.writeStream(bytes);
        // A truncated frame is only known to be truncated when the client finishes its stream.
        const closing = what === "a truncated frame"
          ? raw.connection.close(1000, "client closed", 2_000)
          : Promise.resolve();
        const closed = await within(raw.closed, 3_000, "the server's close");
        await closing;
        assert.equal(closed.code, code);
        const text = new TextDecoder().decode(
          new Uint8Array(raw.received.flatMap((chunk) => [...chunk])).subarray(4),
        );
        if (code === 1008) assert.equal(JSON.parse(text).code, "bad_envelope");
        assert.equal(gateway.metrics.disconnects.get(label as never), 1);
        assert.equal(gateway.sessions.count("quic"), 0);
        await raw.connection.close(1000, "", 0);
      } finally {
        await gateway.shutdown(1_000);
      }
    });
  }
}
