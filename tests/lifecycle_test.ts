import assert from "node:assert/strict";
import { GatewayProcess, LOOPBACK_CONFIG, tempConfigFile } from "./_gateway_process.ts";
import { sleep, within } from "./_helpers.ts";
import { WEBSOCKET_ENGINES } from "../src/config/config.ts";

/** Opens a WebSocket, resolving null when the connection fails or times out. */
function tryOpen(url: string, timeoutMs = 2_000): Promise<WebSocket | null> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => {
      socket.onclose = null;
      socket.close();
      resolve(null);
    }, timeoutMs);
    socket.onopen = () => {
      clearTimeout(timer);
      resolve(socket);
    };
    socket.onerror = () => {
      clearTimeout(timer);
      resolve(null);
    };
  });
}

function closeAndWait(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    socket.onclose = () => resolve();
    socket.close();
  });
}

function ping(socket: WebSocket, id: number): Promise<boolean> {
  return within(
    new Promise<boolean>((resolve) => {
      socket.onmessage = (event) => resolve(JSON.parse(event.data).id === id);
      socket.send(JSON.stringify({ type: "ping", id }));
    }),
    3_000,
    `pong ${id}`,
  );
}

Deno.test("SIGTERM closes sessions with 1001 going away and exits 0", async () => {
  await using config = await tempConfigFile({ ...LOOPBACK_CONFIG, shutdown: { grace_sec: 5 } });
  await using gateway = new GatewayProcess(["--config", config.path]);
  const { websocket } = await gateway.ports();
  const socket = await tryOpen(`ws://127.0.0.1:${websocket}/ws`);
  assert.ok(socket, "cannot connect to the gateway");
  const closed = new Promise<CloseEvent>((resolve) => socket.onclose = resolve);
  assert.ok(await ping(socket, 1));
  gateway.kill("SIGTERM");
  const event = await within(closed, 5_000, "the shutdown close");
  assert.deepEqual([event.code, event.reason], [1001, "going away"]);
  const status = await within(gateway.status, 6_000, "the gateway to exit");
  assert.equal(status.code, 0);
  assert.ok(gateway.lines.some((line) => line.msg === "stopped"));
});

for (const engine of WEBSOCKET_ENGINES) {
  Deno.test({
    name:
      `${engine} engine: the gateway survives running out of file descriptors and accepts again after`,
    ignore: Deno.build.os !== "linux",
    fn: async () => {
      // Deno raises the soft limit to the hard one, so both are set. 80 leaves room for the
      // runtime's own descriptors and a few dozen sessions.
      await using config = await tempConfigFile({
        ...LOOPBACK_CONFIG,
        websocket: { ...LOOPBACK_CONFIG.websocket, max_connections: 10_000, engine },
        // No reserve, so the process does run out (tests/protection covers the reserve).
        limits: { fd_reserve: 0 },
      });
      const open: WebSocket[] = [];
      await using gateway = new GatewayProcess(["--config", config.path], {
        prefix: ["prlimit", "--nofile=80:80"],
      });
      try {
        const { websocket, metrics } = await gateway.ports();
        const url = `ws://127.0.0.1:${websocket}/ws`;
        let failures = 0;
        for (let i = 0; i < 200 && failures < 5; i++) {
          const socket = await tryOpen(url, 1_000);
          if (socket) open.push(socket);
          else failures++;
        }
        assert.ok(failures >= 5, `never ran out of descriptors after ${open.length} sessions`);
        assert.ok(open.length >= 10, `only ${open.length} sessions before failing`);
        await gateway.waitForLog("listener stopped accepting; will retry", 5_000);

        // The process is up and the sessions it holds still work.
        assert.equal(
          await Promise.race([gateway.status.then(() => "exited"), sleep(200)]),
          undefined,
        );
        let answered = 0;
        for (const [i, socket] of open.entries()) {
          if (socket.readyState === WebSocket.OPEN && await ping(socket, i)) answered++;
        }
        assert.equal(answered, open.length, "old sessions stopped answering");

        // Free descriptors: the listener comes back and new sessions succeed.
        const freed = open.splice(0, Math.ceil(open.length / 2));
        await Promise.all(freed.map(closeAndWait));
        let reopened: WebSocket | null = null;
        const deadline = performance.now() + 15_000;
        while (!reopened && performance.now() < deadline) {
          reopened = await tryOpen(url, 1_000);
          if (!reopened) await sleep(250);
        }
        assert.ok(reopened, "no new session within 15 s of freeing descriptors");
        open.push(reopened);
        assert.ok(await ping(reopened, 999));
        const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
        assert.match(text, /gateway_listener_failures_total\{listener="websocket"\} [1-9]/);
        assert.match(text, /gateway_listener_restarts_total\{listener="websocket"\} [1-9]/);
      } finally {
        await Promise.all(open.map(closeAndWait));
      }
    },
  });
}
