/**
 * A flood of TCP connections to the WebSocket port under a small open-files limit. The
 * `gateway` engine stops accepting while only `limits.fd_reserve` descriptors are left, so
 * `/metrics` still answers; once the flood goes, it accepts players again.
 */
import assert from "node:assert/strict";
import { within } from "../_helpers.ts";
import { RawWebSocket } from "../_raw_websocket.ts";
import { startTarget } from "./_attack.ts";

Deno.test({
  name:
    "gateway engine: a connection flood stops at limits.fd_reserve, /metrics still answers, players get in after",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // 120 descriptors: the runtime takes about 25, the reserve 40, the flood the rest.
    await using target = await startTarget("gateway", {
      limits: { fd_reserve: 40, handshake_timeout_ms: 60_000 },
    }, ["prlimit", "--nofile=120:120"]);
    const flood: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 150; i++) {
        flood.push(await Deno.connect({ hostname: "127.0.0.1", port: target.websocket }));
      }
      const scrape = async () => {
        const response = await fetch(`http://127.0.0.1:${target.metrics}/metrics`);
        return { status: response.status, text: await response.text() };
      };
      // Several scrapes, each needing a descriptor of its own on the gateway's side.
      for (let i = 0; i < 5; i++) {
        const { status, text } = await within(scrape(), 3_000, "a /metrics scrape");
        assert.equal(status, 200);
        const open = Number(/^process_open_fds (\d+)/m.exec(text)?.[1]);
        assert.ok(open <= 120 - 40 + 5, `${open} descriptors open, the reserve was not kept`);
      }
      await target.process.waitForLog("descriptor reserve reached; not accepting", 3_000);
      const health = await (await fetch(`http://127.0.0.1:${target.metrics}/health`)).json();
      assert.equal(health.listeners.websocket, false, "the listener should report it paused");
      for (const conn of flood.splice(0)) conn.close();
      const player = await within(
        (async () => {
          while (true) {
            try {
              return await RawWebSocket.connect(target.websocket, "/ws");
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 100));
            }
          }
        })(),
        5_000,
        "a player to get in after the flood",
      );
      player.close();
      await target.process.waitForLog("descriptors freed; accepting again", 3_000);
    } finally {
      for (const conn of flood) conn.close();
    }
  },
});
