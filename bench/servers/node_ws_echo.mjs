// What most TypeScript teams would pick: Node.js with the `ws` package (resolved from the
// project's node_modules, installed by `deno install`). Usage: node servers/node_ws_echo.mjs <port>
import { WebSocketServer } from "ws";

const server = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[2] ?? 0) });
server.on("listening", () => console.log(`listening ${server.address().port}`));
server.on("connection", (socket) => {
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
});
