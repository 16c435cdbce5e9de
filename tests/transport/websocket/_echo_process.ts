/**
 * An echo server on the engine, run as a child process so that a test can watch its memory
 * alone. Usage: deno run --allow-net _echo_process.ts <maxMessageBytes>. Prints
 * `listening <port>`, then `open rss <bytes>` for each connection that opens and `closed <code> rss
 * <bytes>` for each that ends, with the process's resident memory at that moment.
 */
import { WebSocketServer } from "../../../src/transport/websocket/server.ts";

const server = new WebSocketServer({
  hostname: "127.0.0.1",
  connection: { maxMessageBytes: Number(Deno.args[0]) },
  upgrade: () => ({ accept: true }),
  open: (connection) => {
    console.log(`open rss ${Deno.memoryUsage().rss}`);
    return {
      onText: (text) => connection.send(text),
      onBinary: (bytes) => connection.sendBinary(bytes),
      onClosed: (code) => console.log(`closed ${code} rss ${Deno.memoryUsage().rss}`),
    };
  },
});
console.log(`listening ${server.addr.port}`);
