// The chat workload on Node.js with the `ws` package (see _chat_rooms.mjs); each push is
// encoded to a Buffer once per fan-out. Usage: node servers/node_ws_chat.mjs <port>
import { WebSocketServer } from "ws";
import { ChatRooms } from "./_chat_rooms.mjs";

// One Buffer per push, however many members: encoded once, sent as a text frame to each.
let lastPush = "", lastBuffer = Buffer.alloc(0);
const rooms = new ChatRooms((socket, push) => {
  if (push !== lastPush) [lastPush, lastBuffer] = [push, Buffer.from(push)];
  socket.send(lastBuffer, { binary: false });
});
const server = new WebSocketServer({ host: "127.0.0.1", port: Number(process.argv[2] ?? 0) });
server.on("listening", () => console.log(`listening ${server.address().port}`));
server.on("connection", (socket) => {
  socket.on("message", (data) => rooms.handle(socket, data.toString()));
  socket.on("close", () => rooms.leave(socket));
});
