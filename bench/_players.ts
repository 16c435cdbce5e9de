/** WebSocket clients for benchmarks: open many, count what arrives, run request loops. */

/** Opens `count` WebSockets to `port`, `parallel` at a time. */
export async function openClients(
  port: number,
  count: number,
  parallel = 100,
): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, () => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      return new Promise<WebSocket>((resolve, reject) => {
        socket.onopen = () => resolve(socket);
        socket.onerror = () => reject(new Error(`Cannot connect to 127.0.0.1:${port}`));
      });
    });
    sockets.push(...await Promise.all(batch));
  }
  return sockets;
}

/** Closes every socket and waits for the close handshakes (bounded). */
export async function closeClients(sockets: WebSocket[]): Promise<void> {
  await Promise.race([
    Promise.all(sockets.map((socket) =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.onclose = () => resolve();
        socket.close();
      })
    )),
    new Promise((resolve) => setTimeout(resolve, 5_000)),
  ]);
}

/** Sends one request and resolves with its reply (the socket's only traffic meanwhile). */
export function request(socket: WebSocket, id: number, route: string, data?: unknown) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`No reply to ${route} within 10 s`)), 10_000);
    socket.onmessage = (event) => {
      const parsed = JSON.parse(event.data);
      const message = (Array.isArray(parsed) ? parsed : [parsed]).find((m) => m.id === id);
      if (!message) return;
      clearTimeout(timer);
      resolve(message);
    };
    socket.send(JSON.stringify({ type: "request", id, route, data }));
  });
}

/** Runs closed-loop requests on every socket for `ms`; returns completed round trips per second. */
export async function requestLoop(
  sockets: WebSocket[],
  route: string,
  ms: number,
): Promise<number> {
  let completed = 0;
  const end = performance.now() + ms;
  const started = performance.now();
  await Promise.all(sockets.map(async (socket) => {
    let id = 0;
    while (performance.now() < end) {
      const reply = await request(socket, ++id, route);
      if (reply.type !== "response") throw new Error(`${route} failed: ${JSON.stringify(reply)}`);
      completed++;
    }
  }));
  return completed / ((performance.now() - started) / 1000);
}
