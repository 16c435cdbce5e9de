/**
 * The ceiling for our runtime: a bare `Deno.serve` + `Deno.upgradeWebSocket` echo with no
 * sessions, heartbeat or metrics. Usage: deno run --allow-net servers/deno_echo.ts <port>
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});
