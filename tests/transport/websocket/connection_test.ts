import assert from "node:assert/strict";
import { clientFrame, closePayload, concat, OP } from "./_frames.ts";
import { RawClient } from "./_raw_client.ts";
import { TestServer } from "./_test_server.ts";
import { waitFor, within } from "./_wait.ts";

const text = (payload: string | Uint8Array, fin = true) =>
  clientFrame({ opcode: OP.text, payload, fin });
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("Connection echoes text and binary, and reads a frame sent with the handshake", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port, { firstBytes: text("pipelined") });
  try {
    assert.equal(decode((await client.readFrame())!.payload), "pipelined");
    await client.send(
      concat(text("one"), clientFrame({ opcode: OP.binary, payload: new Uint8Array([7, 8]) })),
    );
    const one = (await client.readFrame())!;
    assert.deepEqual([one.opcode, decode(one.payload)], [1, "one"]);
    const two = (await client.readFrame())!;
    assert.deepEqual([two.opcode, [...two.payload]], [2, [7, 8]]);
    const recorded = await server.connection();
    assert.deepEqual(recorded.texts, ["pipelined", "one"]);
  } finally {
    client.close();
  }
});

Deno.test("Connection answers a ping with a pong that carries its payload", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    await client.sendFrame({ opcode: OP.ping, payload: "are you there" });
    const pong = (await client.readFrame())!;
    assert.equal(pong.opcode, OP.pong);
    assert.equal(decode(pong.payload), "are you there");
    const recorded = await server.connection();
    assert.deepEqual(recorded.pings.map(decode), ["are you there"]);
  } finally {
    client.close();
  }
});

Deno.test("Connection reports the pong to its ping with the round-trip time", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    const recorded = await server.connection();
    assert.equal(recorded.connection.ping(new Uint8Array([1, 2])), true);
    const ping = (await client.readFrame())!;
    assert.deepEqual([ping.opcode, [...ping.payload]], [OP.ping, [1, 2]]);
    await client.sendFrame({ opcode: OP.pong, payload: ping.payload });
    await waitFor(() => recorded.pongs.length === 1, 5_000, "the pong");
    assert.deepEqual([...recorded.pongs[0].payload], [1, 2]);
    assert.ok(recorded.pongs[0].rttMs !== undefined && recorded.pongs[0].rttMs >= 0);
    // An unsolicited pong has no round trip.
    await client.sendFrame({ opcode: OP.pong });
    await waitFor(() => recorded.pongs.length === 2, 5_000, "the second pong");
    assert.equal(recorded.pongs[1].rttMs, undefined);
  } finally {
    client.close();
  }
});

Deno.test("Connection closes with 1002 on an unmasked client frame", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    await client.sendFrame({ opcode: OP.text, payload: "naked", masked: false });
    assert.equal((await client.readClose()).code, 1002);
    await client.readEnd(); // the server shut its side after the close frame
    client.close(); // and waits for ours, as a browser would close it now
    const closed = await (await server.connection()).closed();
    assert.deepEqual([closed.code, closed.wasClean], [1002, false]);
  } finally {
    client.close();
  }
});

Deno.test("Connection closes with 1007 on text that is not UTF-8", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(text(new Uint8Array([0x61, 0xfe, 0x62])));
    assert.equal((await client.readClose()).code, 1007);
    await client.readEnd();
    client.close();
    assert.equal((await (await server.connection()).closed()).code, 1007);
  } finally {
    client.close();
  }
});

Deno.test("Connection closes with 1009 on an oversize frame before its payload is sent", async () => {
  await using server = new TestServer({ connection: { maxMessageBytes: 64 * 1024 } });
  const client = await RawClient.connect(server.port);
  try {
    // The header of a 100 MiB frame and nothing else: the answer cannot depend on the payload.
    await client.sendFrame({ opcode: OP.binary, announcedLength: 100 * 1024 * 1024 });
    const close = await client.readClose();
    assert.equal(close.code, 1009);
    assert.match(close.reason, /104857600 bytes exceeds the limit of 65536/);
    await client.readEnd();
    client.close();
    const closed = await (await server.connection()).closed();
    assert.deepEqual([closed.code, closed.wasClean], [1009, false]);
  } finally {
    client.close();
  }
});

Deno.test("Connection refuses a 100 MiB message sent in fragments with 1009 and keeps memory bounded", async () => {
  // The server runs alone in a child process, so its resident memory is its own.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("_echo_process.ts", import.meta.url).pathname,
      String(1024 * 1024),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let output = "";
  const nextLine = async (pattern: RegExp) => {
    while (!pattern.test(output)) {
      const { value, done } = await within(lines.read(), 20_000, `a line matching ${pattern}`);
      if (done) throw new Error(`The server process ended; it printed: ${output}`);
      output += value;
    }
    return pattern.exec(output)!;
  };
  let client: RawClient | undefined;
  try {
    const port = Number((await nextLine(/listening (\d+)/))[1]);
    client = await RawClient.connect(port);
    const before = Number((await nextLine(/open rss (\d+)/))[1]);
    // One 16 KiB fragment, masked once and sent up to 6,400 times: 100 MiB in all.
    const payload = new Uint8Array(16 * 1024).fill(0x61);
    const first = clientFrame({ opcode: OP.binary, payload, fin: false });
    const next = clientFrame({ opcode: OP.continuation, payload, fin: false });
    let closeSeen = false;
    const close = client.readClose(30_000).finally(() => closeSeen = true);
    let sent = 0;
    try {
      for (let i = 0; i < 6_400 && !closeSeen; i++) {
        await client.send(i === 0 ? first : next);
        sent += payload.length;
      }
    } catch (error) {
      // The server may end the connection while we are still sending.
      if (
        !(error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe)
      ) {
        throw error;
      }
    }
    assert.equal((await close).code, 1009);
    client.close();
    const after = Number((await nextLine(/closed 1009 rss (\d+)/))[1]);
    const grownMiB = (after - before) / 2 ** 20;
    assert.ok(
      grownMiB < 16,
      `server RSS grew ${grownMiB.toFixed(1)} MiB after ${sent} bytes were sent`,
    );
  } finally {
    client?.close();
    child.kill("SIGKILL");
    await child.status;
    await lines.cancel();
  }
});

Deno.test("Connection completes a close handshake the client starts", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    await client.sendFrame({ opcode: OP.close, payload: closePayload(4321, "done here") });
    const echo = await client.readClose();
    assert.equal(echo.code, 4321);
    await client.readEnd(); // the server closes the TCP connection first (RFC 6455 §7.1.1)
    assert.deepEqual(await (await server.connection()).closed(), {
      code: 4321,
      reason: "done here",
      wasClean: true,
    });
  } finally {
    client.close();
  }
});

Deno.test("Connection completes a close handshake it starts, after its pending output", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    const recorded = await server.connection();
    recorded.connection.send("last words");
    recorded.connection.close(4000, "see you");
    assert.equal(recorded.connection.send("too late"), -1);
    const close = await client.readClose();
    assert.deepEqual([close.code, close.reason], [4000, "see you"]);
    assert.deepEqual(close.before.map((frame) => decode(frame.payload)), ["last words"]);
    await client.sendFrame({ opcode: OP.close, payload: closePayload(4000) });
    await client.readEnd();
    // The code and reason of the peer's close frame, as RFC 6455 §7.1.5 defines them.
    assert.deepEqual(await recorded.closed(), { code: 4000, reason: "", wasClean: true });
  } finally {
    client.close();
  }
});

Deno.test("Connection closes the TCP connection after closeTimeoutMs when the peer never answers its close", async () => {
  await using server = new TestServer({ connection: { closeTimeoutMs: 200 } });
  const client = await RawClient.connect(server.port);
  try {
    const recorded = await server.connection();
    const started = performance.now();
    recorded.connection.close(4000, "bye");
    assert.equal((await client.readClose()).code, 4000);
    await client.readEnd(); // never answered: the server gives up after 200 ms
    assert.deepEqual(await recorded.closed(), { code: 4000, reason: "bye", wasClean: false });
    const tookMs = recorded.closedAt! - started;
    assert.ok(tookMs >= 150, `closed after ${tookMs.toFixed(0)} ms, before the timeout`);
  } finally {
    client.close();
  }
});

Deno.test("A client that stops reading makes bufferedAmount grow and cannot hold the socket past closeTimeoutMs", async () => {
  await using server = new TestServer({
    connection: { closeTimeoutMs: 300, maxBufferedBytes: 256 * 1024 * 1024 },
  });
  const client = await RawClient.connect(server.port); // never reads from here on
  try {
    const { connection } = await server.connection();
    const chunk = new Uint8Array(64 * 1024);
    const frameBytes = chunk.length + 10;
    // Send until the kernel buffers are full and the write stalls: then nothing drains.
    for (let round = 0; round < 500; round++) {
      for (let i = 0; i < 16; i++) connection.sendBinary(chunk);
      const queued = connection.bufferedAmount;
      await new Promise((resolve) => setTimeout(resolve, 30));
      if (queued > 0 && connection.bufferedAmount === queued) break;
    }
    const stalled = connection.bufferedAmount;
    assert.ok(stalled > 1024 * 1024, `stalled with only ${stalled} bytes buffered`);
    connection.sendBinary(chunk);
    assert.equal(
      connection.bufferedAmount,
      stalled + frameBytes,
      "bufferedAmount counts each frame exactly",
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(
      connection.bufferedAmount,
      stalled + frameBytes,
      "nothing drains from a stalled peer",
    );
    const started = performance.now();
    connection.close(1000, "slow");
    const recorded = server.connections[0];
    const closed = await recorded.closed(5_000);
    assert.deepEqual(closed, { code: 1000, reason: "slow", wasClean: false });
    const tookMs = recorded.closedAt! - started;
    assert.ok(tookMs < 2_000, `torn down after ${tookMs.toFixed(0)} ms`);
    await client.readEnd(); // the client sees the end once it reads what was buffered
  } finally {
    client.close();
  }
});

Deno.test("Connection tears down a peer that stops reading once maxBufferedBytes is crossed", async () => {
  await using server = new TestServer({ connection: { maxBufferedBytes: 2 * 1024 * 1024 } });
  const client = await RawClient.connect(server.port);
  try {
    const recorded = await server.connection();
    const chunk = new Uint8Array(64 * 1024);
    let refused = false;
    for (let round = 0; round < 2_000 && !refused; round++) {
      for (let i = 0; i < 16 && !refused; i++) refused = !recorded.connection.sendBinary(chunk);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    assert.ok(refused, "send never returned false");
    const closed = await recorded.closed();
    assert.equal(closed.code, 1006);
    assert.match(closed.reason, /Send buffer exceeded 2097152 bytes/);
    assert.equal(closed.wasClean, false);
    await client.readEnd(10_000);
  } finally {
    client.close();
  }
});

Deno.test("Connection.terminate closes the TCP connection at once", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  try {
    const recorded = await server.connection();
    recorded.connection.send("dropped, maybe");
    recorded.connection.terminate();
    recorded.connection.terminate();
    assert.deepEqual(await recorded.closed(), { code: 1006, reason: "", wasClean: false });
    assert.equal(recorded.connection.readyState, 3);
    await client.readEnd();
  } finally {
    client.close();
  }
});

Deno.test("Connection reports the end of a peer that vanishes without a close frame", async () => {
  await using server = new TestServer();
  const client = await RawClient.connect(server.port);
  const recorded = await server.connection();
  client.close();
  assert.deepEqual(await recorded.closed(), { code: 1006, reason: "", wasClean: false });
});

Deno.test("Connection closes with 1011 and reports the error when a handler throws", async () => {
  const reported: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    event.preventDefault();
    reported.push(event.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    await using server = new TestServer();
    const client = await RawClient.connect(server.port);
    try {
      const recorded = await server.connection();
      // Replace the echo with a handler that throws.
      recorded.onText = () => {
        throw new Error("handler bug");
      };
      await client.send(text("boom"));
      assert.equal((await client.readClose()).code, 1011);
      await waitFor(() => reported.length === 1, 5_000, "the error report");
      assert.equal((reported[0] as Error).message, "handler bug");
      await client.readEnd();
      client.close();
      assert.equal((await recorded.closed()).code, 1011);
    } finally {
      client.close();
    }
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});
