/**
 * An engine server for the descriptor-exhaustion test, run as a child process under a low
 * `ulimit -n`. Usage: deno run --allow-net _emfile_process.ts. Prints `listening <port>`,
 * `accept failed <message>` for each accept error, and `open` for each upgrade.
 */
import { WebSocketServer } from "../../../src/transport/websocket/server.ts";

const server = new WebSocketServer({
  hostname: "127.0.0.1",
  retryMinMs: 20,
  retryMaxMs: 200,
  upgrade: () => ({ accept: true }),
  open: (connection) => {
    console.log("open");
    return {
      onText: (text) => connection.send(text),
      onBinary: (bytes) => connection.sendBinary(bytes),
      onClosed: () => {},
    };
  },
  onError: (error) => console.log(`accept failed ${(error as Error).message}`),
});
console.log(`listening ${server.addr.port}`);
