// Bun's built-in WebSocket server (uWebSockets inside). Usage: bun servers/bun_echo.mjs <port>
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.argv[2] ?? 0),
  fetch(request, server) {
    return server.upgrade(request) ? undefined : new Response("Upgrade Required", { status: 426 });
  },
  websocket: {
    message(socket, message) {
      socket.send(message);
    },
  },
});
console.log(`listening ${server.port}`);
