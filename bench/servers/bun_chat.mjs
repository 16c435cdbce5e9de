// The chat workload on Bun's built-in WebSocket server (see _chat_rooms.mjs); members are sent
// to one by one, as on the other servers. Usage: bun servers/bun_chat.mjs <port>
import { ChatRooms } from "./_chat_rooms.mjs";

const rooms = new ChatRooms();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  fetch(request, server) {
    return server.upgrade(request) ? undefined : new Response("Upgrade Required", { status: 426 });
  },
  websocket: {
    message(socket, message) {
      rooms.handle(socket, String(message));
    },
    close(socket) {
      rooms.leave(socket);
    },
  },
});
console.log(`listening ${server.port}`);
