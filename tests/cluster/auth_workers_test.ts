import assert from "node:assert/strict";
import { GatewayProcess, LOOPBACK_CONFIG, tempConfigFile } from "../_gateway_process.ts";
import { NatsServer } from "../_nats_server.ts";
import { waitFor, within } from "../_helpers.ts";
import { hmacToken, TEST_SECRET, TEST_SECRET_ENV } from "../_tokens.ts";

Deno.test("--workers with NATS keep one session per user across workers (kick_old)", async () => {
  await using nats = new NatsServer();
  await nats.start();
  await using config = await tempConfigFile({
    ...LOOPBACK_CONFIG,
    cluster: { nats: { servers: [nats.url], reconnect_wait_ms: 100 } },
    auth: { mode: "jwt", jwt: { hmac_secret_env: TEST_SECRET_ENV } },
  });
  const sockets: WebSocket[] = [];
  await using supervisor = new GatewayProcess(["-config", config.path, "-workers", "2"], {
    env: { [TEST_SECRET_ENV]: TEST_SECRET },
  });
  try {
    const started = await supervisor.waitForLog("workers started", 20_000);
    const metricsLine = await supervisor.waitForLog(
      "metrics listening",
      5_000,
      (l) => l.workers === 2,
    );
    await supervisor.waitForLog("websocket listening", 10_000, (l) => l.worker === 1);
    for (const worker of [0, 1]) {
      await supervisor.waitForLog("connected to NATS", 10_000, (l) => l.worker === worker);
    }
    const closes: Array<number | undefined> = [];
    // One user logs in again and again; the kernel spreads the connections over both workers.
    for (let i = 0; i < 12; i++) {
      const socket = new WebSocket(`ws://127.0.0.1:${started.websocket_port}/ws`);
      const replies: Record<string, unknown>[] = [];
      socket.onmessage = (event) => replies.push(JSON.parse(event.data));
      socket.onclose = (event) => closes[i] = event.code;
      await within(new Promise((resolve) => socket.onopen = resolve), 3_000, "open");
      socket.send(JSON.stringify({ type: "auth", id: 1, data: { token: await hmacToken() } }));
      await waitFor(() => replies.length > 0, 3_000, `login ${i}`);
      assert.equal(replies[0].type, "response", JSON.stringify(replies[0]));
      sockets.push(socket);
      closes.push(undefined);
    }
    await waitFor(
      () => closes.slice(0, 11).every((code) => code !== undefined),
      5_000,
      "every older session to be kicked",
    );
    assert.deepEqual(new Set(closes.slice(0, 11)), new Set([4502]));
    assert.equal(sockets[11].readyState, WebSocket.OPEN);
    const text = await (await fetch(String(metricsLine.url))).text();
    const logins = [0, 1].map((w) =>
      Number(new RegExp(`gateway_auth_total\\{worker="${w}",result="ok"\\} (\\d+)`).exec(text)?.[1])
    );
    assert.ok(logins.every((n) => n > 0), `one worker got every login: ${logins}`);
  } finally {
    for (const socket of sockets) socket.close();
  }
});
