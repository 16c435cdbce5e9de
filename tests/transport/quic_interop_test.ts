import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { within } from "../_helpers.ts";
import type { QuicCloseInfo } from "../../src/transport/quic_engine.ts";
import { matrixaiQuicEngine } from "../../src/transport/quic_engine_matrixai.ts";
import { quicPort, quicTestClient, quicTestConfig, testTls } from "../_quic_harness.ts";

for (const [server, client] of [["native", "matrixai"], ["matrixai", "native"]] as const) {
  Deno.test(`quic interop: a ${client} client talks to a ${server} server and gets its close code`, async () => {
    const gateway = startGateway(
      parseConfig({
        websocket: { enabled: false },
        metrics: { enabled: false },
        quic: quicTestConfig(server),
      }),
      { logger: new Logger("error") },
    );
    try {
      const conn = await quicTestClient(await quicPort(gateway), client);
      await conn.send('{"type":"request","id":1,"route":"echo","data":{"x":"é"}}');
      assert.deepEqual(JSON.parse(await conn.next(3_000)), {
        type: "response",
        id: 1,
        data: { x: "é" },
      });
      await conn.send("garbage");
      assert.equal(JSON.parse(await conn.next(3_000)).code, "bad_json");
      await gateway.shutdown(3_000);
      assert.deepEqual(await within(conn.closed, 3_000, "the shutdown close"), {
        code: 1001,
        reason: "going away",
      });
    } finally {
      await gateway.shutdown();
    }
  });
}

// The "Peer closed with application code 0" a first probe saw: Deno's `QuicConn.close()` and
// `QuicEndpoint.close()` without a QuicCloseInfo send an application close with code 0. The
// gateway always passes a code; this pins down where a bare 0 comes from.
Deno.test("quic interop: a native close without a code reaches a matrixai client as code 0", async () => {
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const listener = endpoint.listen({
    alpnProtocols: ["mmo"],
    cert: await Deno.readTextFile(testTls.certFile),
    key: await Deno.readTextFile(testTls.keyFile),
  });
  const accepted = listener.accept();
  try {
    const closed = Promise.withResolvers<QuicCloseInfo>();
    const client = await matrixaiQuicEngine.connect({
      hostname: "127.0.0.1",
      port: endpoint.addr.port,
      alpn: "mmo",
      caCerts: [testTls.caPem],
      idleTimeoutMs: 5_000,
      keepAliveIntervalMs: 0,
      handler: {
        onStreamData: () => {},
        onStreamEnd: () => {},
        onDatagram: () => {},
        onClosed: (info) => closed.resolve(info),
      },
    });
    const conn = await accepted;
    conn.close();
    assert.deepEqual(await within(closed.promise, 3_000, "the client to see the close"), {
      code: 0,
      reason: "",
      remote: true,
    });
    await client.close(0, "", 0);
    await conn.closed.catch(() => {});
  } finally {
    endpoint.close();
  }
});
