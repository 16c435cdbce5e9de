import assert from "node:assert/strict";
import { TestServer } from "./_test_server.ts";
import { within } from "./_wait.ts";

const MESSAGES = ["hello", "héllo €𝄞", "x".repeat(60_000)];

/** Runs a client script to completion and parses the JSON line it prints. */
async function runClient(command: string, script: string, url: string) {
  const output = await within(
    new Deno.Command(command, {
      args: [new URL(script, import.meta.url).pathname, url],
      cwd: new URL("../../../", import.meta.url).pathname, // where node_modules is
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output(),
    30_000,
    `the ${script} client`,
  );
  const stdout = new TextDecoder().decode(output.stdout).trim();
  assert.ok(output.success, `${script} failed: ${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(stdout.split("\n").at(-1)!);
}

function pythonWithWebsockets(): boolean {
  try {
    return new Deno.Command("/usr/bin/python3", { args: ["-c", "import websockets"] })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test("Deno's WebSocket client talks to the engine: echoes, binary, and close codes both ways", async () => {
  await using server = new TestServer();
  const socket = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  socket.binaryType = "arraybuffer";
  const inbox: (string | ArrayBuffer)[] = [];
  let wake: (() => void) | undefined;
  socket.onmessage = (event) => {
    inbox.push(event.data);
    wake?.();
  };
  const next = async () => {
    while (inbox.length === 0) {
      await within(new Promise<void>((resolve) => wake = resolve), 5_000, "an echo");
    }
    return inbox.shift()!;
  };
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  await within(new Promise((resolve) => socket.onopen = resolve), 5_000, "the connection");
  for (const message of MESSAGES) {
    socket.send(message);
    assert.equal(await next(), message);
  }
  socket.send(new Uint8Array([0, 1, 255]));
  assert.deepEqual([...new Uint8Array(await next() as ArrayBuffer)], [0, 1, 255]);
  const recorded = await server.connection();
  recorded.connection.close(4002, "server done");
  const event = await within(closed, 5_000, "the client close event");
  assert.deepEqual([event.code, event.reason, event.wasClean], [4002, "server done", true]);
  // The peer's close frame: Deno's client echoes the code and the reason.
  assert.deepEqual(await recorded.closed(), { code: 4002, reason: "server done", wasClean: true });

  // And the other way round: the client's close code reaches the server.
  const second = new WebSocket(`ws://127.0.0.1:${server.port}/`);
  await within(new Promise((resolve) => second.onopen = resolve), 5_000, "the second connection");
  const secondClosed = new Promise((resolve) => second.onclose = resolve);
  second.close(4005, "client done");
  await within(secondClosed, 5_000, "the second close");
  assert.deepEqual(await (await server.connection(1)).closed(), {
    code: 4005,
    reason: "client done",
    wasClean: true,
  });
});

Deno.test("Node.js with the ws package talks to the engine", async () => {
  await using server = new TestServer({ upgrade: () => ({ accept: true, protocol: "chat" }) });
  const result = await runClient("node", "_node_ws_client.mjs", `ws://127.0.0.1:${server.port}/`);
  assert.deepEqual(result.errors, []);
  assert.equal(result.protocol, "chat");
  assert.deepEqual(result.echoes, [...MESSAGES, [0, 1, 255], "frag-ment"]);
  assert.equal(result.pong, "hb");
  assert.deepEqual(result.close, { code: 4001, reason: "node done" });
  const recorded = await server.connection();
  assert.deepEqual(recorded.pings.map((p) => new TextDecoder().decode(p)), ["hb"]);
  assert.deepEqual(await recorded.closed(), { code: 4001, reason: "node done", wasClean: true });
});

Deno.test({
  name: "Python's websockets package talks to the engine",
  ignore: !pythonWithWebsockets(), // apt-get install python3-websockets
  async fn() {
    await using server = new TestServer({ upgrade: () => ({ accept: true, protocol: "chat" }) });
    const url = `ws://127.0.0.1:${server.port}/`;
    const result = await runClient("/usr/bin/python3", "_python_client.py", url);
    assert.equal(result.protocol, "chat");
    assert.deepEqual(result.echoes, [...MESSAGES, [0, 1, 255], "frag-ment"]);
    assert.equal(result.pong, true);
    assert.deepEqual(result.close, { code: 4003, reason: "python done" });
    assert.deepEqual(await (await server.connection()).closed(), {
      code: 4003,
      reason: "python done",
      wasClean: true,
    });
  },
});
