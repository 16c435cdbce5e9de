/**
 * An echo server on the gateway's own WebSocket engine (`src/transport/websocket/`), the
 * counterpart of `bench/servers/deno_echo.ts`. Usage:
 * deno run --allow-net bench/websocket_engine/engine_echo.ts <port> [readBufferBytes]
 */
import {
  type ConnectionEvents,
  type WebSocketConnection,
  WebSocketServer,
} from "../../src/transport/websocket/mod.ts";

/** Sends every message back on its connection. */
class Echo implements ConnectionEvents {
  constructor(readonly connection: WebSocketConnection) {}
  onText(text: string): void {
    this.connection.send(text);
  }
  onBinary(bytes: Uint8Array): void {
    this.connection.sendBinary(bytes);
  }
  onClosed(): void {}
}

const readBufferBytes = Deno.args[1] === undefined ? undefined : Number(Deno.args[1]);
const server = new WebSocketServer({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  maxPendingHandshakes: 20_000,
  connection: { readBufferBytes },
  upgrade: () => ({ accept: true }),
  open: (connection) => new Echo(connection),
  onError: (error) => console.error("engine echo:", error),
});
console.log(`listening ${server.addr.port}`);
