/**
 * Clients that open TCP connections and never finish the WebSocket upgrade: half an HTTP
 * request, or nothing at all. The `gateway` engine closes each after
 * `limits.handshake_timeout_ms`; they never become sessions, and real players still get in.
 */
import assert from "node:assert/strict";
import { startTestGateway, within } from "../_helpers.ts";
import { RawWebSocket } from "../_raw_websocket.ts";

const TIMEOUT_MS = 300;
/** Slack for a loaded 2-core machine: timers and 1,000 closes on one event loop. */
const SLACK_MS = 2_000;

/** Resolves when the server closes `conn` (end of stream or reset). */
async function serverClosed(conn: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(1024);
  try {
    while (await conn.read(buffer) !== null) {
      // a refusal's bytes, if any
    }
  } catch {
    // reset
  }
}

async function openIdle(port: number, count: number, text: string): Promise<Deno.TcpConn[]> {
  return await Promise.all(Array.from({ length: count }, async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    if (text) await conn.write(new TextEncoder().encode(text));
    return conn;
  }));
}

Deno.test("gateway engine: 500 half requests and 500 silent sockets are closed after handshake_timeout_ms, never sessions, while a player connects", async () => {
  await using gateway = startTestGateway({ limits: { handshake_timeout_ms: TIMEOUT_MS } });
  const port = gateway.websocketAddr!.port;
  const started = performance.now();
  const half = await openIdle(port, 500, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: web`);
  const silent = await openIdle(port, 500, "");
  const all = [...half, ...silent];
  try {
    const closed = Promise.all(all.map(serverClosed));
    // A real player gets in meanwhile, and is the only session.
    const player = await RawWebSocket.connect(port, "/ws");
    assert.equal(gateway.sessions.count("websocket"), 1);
    await within(closed, TIMEOUT_MS + SLACK_MS, "every unfinished handshake to be closed");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= TIMEOUT_MS - 50, `closed after ${elapsed.toFixed(0)} ms, too early`);
    assert.equal(gateway.sessions.count("websocket"), 1);
    assert.equal(gateway.metrics.rejected.bad_handshake, 0);
    assert.equal(gateway.metrics.rejected.handshake_timeout, 1_000);
    player.close();
  } finally {
    for (const conn of all) {
      try {
        conn.close();
      } catch {
        // closed
      }
    }
  }
});

Deno.test("deno engine: handshake_timeout_ms does not apply; a silent socket stays open", async () => {
  await using gateway = startTestGateway({
    websocket: { engine: "deno" },
    limits: { handshake_timeout_ms: TIMEOUT_MS },
  });
  const [conn] = await openIdle(gateway.websocketAddr!.port, 1, "");
  try {
    // Deno's documented limit: Deno.serve keeps an idle connection open (for minutes).
    await assert.rejects(within(serverClosed(conn), 1_000, "the close"), /Timed out/);
  } finally {
    conn.close();
  }
});
