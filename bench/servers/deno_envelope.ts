/**
 * The protocol's own cost on our runtime: a bare `Deno.serve` + `Deno.upgradeWebSocket` server
 * that decodes each request envelope and encodes a `response` envelope, as the gateway does for
 * `echo`, with no sessions, heartbeat or metrics.
 * Usage: deno run --allow-net servers/deno_envelope.ts <port>
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? 0),
  onListen: ({ port }) => console.log(`listening ${port}`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onmessage = (event) => {
    const { id, data } = JSON.parse(event.data);
    socket.send(JSON.stringify({ type: "response", id, data }));
  };
  return response;
});
