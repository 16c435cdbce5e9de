/**
 * A QUIC client that completes the QUIC handshake and then opens no stream: it is closed with
 * 4007 after `limits.handshake_timeout_ms`, on each QUIC engine; one that speaks in time is not.
 */
import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig, QUIC_ENGINES } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { encodeFrame } from "../../src/transport/quic_framing.ts";
import { sleep, within } from "../_helpers.ts";
import { quicPort, quicTestConfig, rawQuicConnection } from "../_quic_harness.ts";

const TIMEOUT_MS = 300;

for (const engine of QUIC_ENGINES) {
  Deno.test(`quic ${engine}: a connection that opens no stream is closed after handshake_timeout_ms`, async () => {
    const gateway = startGateway(
      parseConfig({
        websocket: { enabled: false },
        metrics: { enabled: false },
        limits: { handshake_timeout_ms: TIMEOUT_MS },
        quic: quicTestConfig(engine),
      }),
      { logger: new Logger("error") },
    );
    try {
      const port = await quicPort(gateway);
      const silent = await rawQuicConnection(port, engine);
      const speaking = await rawQuicConnection(port, engine);
      speaking.connection.writeStream(encodeFrame('{"type":"ping","id":1}'));
      const started = performance.now();
      const closed = await within(
        silent.closed,
        TIMEOUT_MS + 2_000,
        "the silent connection's close",
      );
      const elapsed = performance.now() - started;
      assert.equal(closed.code, 4007);
      assert.ok(elapsed < TIMEOUT_MS + 2_000, `closed after ${elapsed.toFixed(0)} ms`);
      assert.equal(gateway.metrics.disconnects.get("handshake_timeout"), 1);
      await sleep(TIMEOUT_MS);
      assert.equal(gateway.sessions.count("quic"), 1, "the speaking client was closed too");
      await speaking.connection.close(1000, "", 0);
    } finally {
      await gateway.shutdown(1_000);
    }
  });
}
