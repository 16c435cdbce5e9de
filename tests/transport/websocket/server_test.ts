import assert from "node:assert/strict";
import { readToEnd, upgradeRequest, writeAll } from "./_raw_client.ts";
import { TestServer } from "./_test_server.ts";
import { waitFor, within } from "./_wait.ts";

/** Opens a Deno WebSocket client; resolves once open. */
function openClient(url: string, protocols: string[] = []): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols);
  return within(
    new Promise((resolve, reject) => {
      socket.onopen = () => resolve(socket);
      socket.onerror = () => reject(new Error(`Cannot connect to ${url}`));
    }),
    5_000,
    `a connection to ${url}`,
  );
}

/** Closes a client socket and waits for its close event. */
async function closeClient(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return;
  const closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  socket.close();
  await within(closed, 5_000, "the client to close");
}

/** Sends `request` on a new TCP connection and returns the whole response. */
async function exchange(port: number, request: string | Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, typeof request === "string" ? new TextEncoder().encode(request) : request);
    return await readToEnd(conn, 5_000);
  } finally {
    conn.close();
  }
}

Deno.test("WebSocketServer gives the owner path, headers, subprotocols and address, and agrees its subprotocol", async () => {
  await using server = new TestServer({
    upgrade: (request) =>
      request.path === "/play?room=7"
        ? { accept: true, protocol: "v2" }
        : { status: 404, body: "no" },
  });
  const socket = await openClient(`ws://127.0.0.1:${server.port}/play?room=7`, ["v1", "v2"]);
  try {
    assert.equal(socket.protocol, "v2");
    const { request, connection } = await server.connection();
    assert.equal(request.path, "/play?room=7");
    assert.deepEqual(request.protocols, ["v1", "v2"]);
    assert.equal(request.headers.get("sec-websocket-version"), "13");
    assert.equal(request.remoteAddr.hostname, "127.0.0.1");
    assert.equal(connection.protocol, "v2");
    assert.equal(server.server.connections, 1);
  } finally {
    await closeClient(socket);
  }
});

Deno.test("WebSocketServer answers the owner's refusal with its status and text, and closes", async () => {
  await using server = new TestServer({
    upgrade: (request) =>
      request.path === "/ws"
        ? { accept: true }
        : { status: 404, body: `Not Found: ${request.path} does not upgrade` },
  });
  const response = await exchange(server.port, upgradeRequest(server.port, "/elsewhere"));
  assert.match(response, /^HTTP\/1\.1 404 Not Found\r\n/);
  assert.match(response, /\r\nConnection: close\r\n/);
  assert.ok(response.endsWith("\r\n\r\nNot Found: /elsewhere does not upgrade\n"), response);
  assert.equal(server.connections.length, 0);
});

Deno.test("WebSocketServer refuses requests that fail RFC 6455 before asking the owner", async () => {
  let asked = 0;
  await using server = new TestServer({
    maxHeadBytes: 1024,
    upgrade: () => {
      asked++;
      return { accept: true };
    },
  });
  const port = server.port;
  const version8 = upgradeRequest(port).replace("Version: 13", "Version: 8");
  const v8 = await exchange(port, version8);
  assert.match(v8, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
  assert.match(v8, /\r\nSec-WebSocket-Version: 13\r\n/);
  const plain = await exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assert.match(plain, /^HTTP\/1\.1 426 /);
  assert.match(await exchange(port, "POST / HTTP/1.1\r\nHost: x\r\n\r\n"), /^HTTP\/1\.1 405 /);
  assert.match(await exchange(port, "GET / HTTP/1.1\nHost: x\n\n"), /^HTTP\/1\.1 400 /);
  assert.match(await exchange(port, "\x16\x03\x01 not http\r\n\r\n"), /^HTTP\/1\.1 400 /);
  const big = upgradeRequest(port, "/", [`X-Pad: ${"p".repeat(2_000)}`]);
  assert.match(await exchange(port, big), /^HTTP\/1\.1 431 /);
  assert.equal(asked, 0);
  assert.equal(server.server.handshakesRefused, 6);
});

Deno.test("WebSocketServer closes a silent TCP connection after handshakeTimeoutMs", async () => {
  await using server = new TestServer({ handshakeTimeoutMs: 200 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const started = performance.now();
    assert.equal(await readToEnd(conn, 5_000), "");
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 150, `closed after ${tookMs.toFixed(0)} ms, before the timeout`);
    await waitFor(() => server.server.pendingHandshakes === 0, 2_000, "the handshake to end");
    assert.equal(server.server.handshakeTimeouts, 1);
  } finally {
    conn.close();
  }
});

Deno.test("WebSocketServer closes a connection that sent half a request after handshakeTimeoutMs", async () => {
  await using server = new TestServer({ handshakeTimeoutMs: 200 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const request = upgradeRequest(server.port);
    await writeAll(conn, new TextEncoder().encode(request.slice(0, request.length >> 1)));
    const started = performance.now();
    assert.equal(await readToEnd(conn, 5_000), "");
    const tookMs = performance.now() - started;
    assert.ok(tookMs >= 150, `closed after ${tookMs.toFixed(0)} ms, before the timeout`);
    assert.equal(server.connections.length, 0);
  } finally {
    conn.close();
  }
});

Deno.test("WebSocketServer closes a slowloris sending a byte at a time after handshakeTimeoutMs", async () => {
  await using server = new TestServer({ handshakeTimeoutMs: 300 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const head = new TextEncoder().encode(upgradeRequest(server.port) + "X".repeat(10_000));
  let sent = 0;
  const drip = (async () => {
    try {
      for (; sent < head.length; sent++) {
        await writeAll(conn, head.subarray(sent, sent + 1));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } catch {
      // the server closed the connection, as it should
    }
  })();
  try {
    assert.equal(await readToEnd(conn, 5_000), "");
    assert.ok(sent < head.length, "the whole request was sent before the server gave up");
  } finally {
    conn.close();
    await drip;
  }
});

Deno.test("WebSocketServer closes new TCP connections past maxPendingHandshakes", async () => {
  await using server = new TestServer({ maxPendingHandshakes: 2 });
  const silent = [
    await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
  ];
  try {
    await waitFor(() => server.server.pendingHandshakes === 2, 2_000, "two pending handshakes");
    const third = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      assert.equal(await readToEnd(third, 2_000), "");
      assert.equal(server.server.refusedOverCapacity, 1);
    } finally {
      third.close();
    }
  } finally {
    for (const conn of silent) conn.close();
  }
});

Deno.test("WebSocketServer.close closes open connections with 1001 and stops accepting", async () => {
  const server = new TestServer();
  const socket = await openClient(`ws://127.0.0.1:${server.port}/`);
  const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener("close", resolve));
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await server.server.close();
    await server.server.close();
    const event = await within(closed, 5_000, "the client close event");
    assert.deepEqual([event.code, event.reason, event.wasClean], [1001, "server closing", true]);
    assert.equal(await readToEnd(silent, 2_000), "");
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
  } finally {
    silent.close();
    await server.server.close();
  }
});

Deno.test("WebSocketServer closes when its signal aborts", async () => {
  const abort = new AbortController();
  const server = new TestServer({ signal: abort.signal });
  const socket = await openClient(`ws://127.0.0.1:${server.port}/`);
  const closed = new Promise<CloseEvent>((resolve) => socket.addEventListener("close", resolve));
  abort.abort();
  assert.equal((await within(closed, 5_000, "the client close event")).code, 1001);
  await server.server.close();
});

Deno.test("WebSocketServer shares its port with another listener through reusePort", async () => {
  await using first = new TestServer({ reusePort: true });
  await using second = new TestServer({ reusePort: true, port: first.port });
  assert.equal(second.port, first.port);
  const sockets = await Promise.all(
    Array.from({ length: 8 }, () => openClient(`ws://127.0.0.1:${first.port}/`)),
  );
  try {
    await waitFor(
      () => first.connections.length + second.connections.length === 8,
      5_000,
      "eight connections between the two servers",
    );
  } finally {
    await Promise.all(sockets.map(closeClient));
  }
});

Deno.test("WebSocketServer refuses a subprotocol the client did not offer, and reports it", async () => {
  await using server = new TestServer({ upgrade: () => ({ accept: true, protocol: "unoffered" }) });
  const response = await exchange(server.port, upgradeRequest(server.port));
  assert.equal(response, "");
  assert.match(String(server.errors[0]), /the client did not offer it/);
});

Deno.test("WebSocketServer keeps accepting after the process runs out of file descriptors", async () => {
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=64",
      Deno.execPath(),
      "run",
      "--allow-net",
      new URL("_emfile_process.ts", import.meta.url).pathname,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  const pump = (async () => {
    while (true) {
      const { value, done } = await lines.read();
      if (done) return;
      output += value;
    }
  })();
  const conns: Deno.TcpConn[] = [];
  try {
    await waitFor(() => /listening \d+/.test(output), 20_000, "the server process to listen");
    const port = Number(/listening (\d+)/.exec(output)![1]);
    // Deno 2.9.6 panics if descriptors run out during its lazy start-up work (it loads
    // NODE_EXTRA_CA_CERTS and registers signals about a second in); the server is not at fault.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (let i = 0; i < 100; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    await waitFor(() => output.includes("accept failed"), 10_000, "an accept failure (EMFILE)");
    for (const conn of conns) conn.close();
    conns.length = 0;
    const socket = await openClient(`ws://127.0.0.1:${port}/`);
    try {
      const echoed = new Promise<string>((resolve) => socket.onmessage = (e) => resolve(e.data));
      socket.send("still here");
      assert.equal(await within(echoed, 5_000, "the echo"), "still here");
    } finally {
      await closeClient(socket);
    }
  } finally {
    for (const conn of conns) conn.close();
    child.kill("SIGKILL");
    await child.status;
    await pump.catch(() => {});
  }
});
