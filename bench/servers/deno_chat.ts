/**
 * The chat workload on a bare `Deno.serve` + `Deno.upgradeWebSocket` server (see
 * `_chat_rooms.mjs`). Usage: deno run --allow-net servers/deno_chat.ts <port>
 */
import { ChatRooms } from "./_chat_rooms.mjs";

const rooms = new ChatRooms();
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => rooms.handle(socket, event.data);
  socket.onclose = () => rooms.leave(socket);
  return response;
});
