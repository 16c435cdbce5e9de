import assert from "node:assert/strict";
import { GatewayProcess, LOOPBACK_CONFIG, tempConfigFile } from "../_gateway_process.ts";
import { startTestGateway, within } from "../_helpers.ts";
import { quicTestConfig } from "../_quic_harness.ts";
import { RawWebSocket } from "../_raw_websocket.ts";

async function get(url: string, method = "GET"): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method });
  return { status: response.status, body: await response.text() };
}

Deno.test("/livez stays 200 while /readyz turns 503 as the node starts draining", async () => {
  const gateway = startTestGateway();
  const base = `http://127.0.0.1:${gateway.metricsAddr!.port}`;
  // A raw client never answers the close frame, so the drain waits for it (up to the grace).
  const lingering = await RawWebSocket.connect(gateway.websocketAddr!.port, "/ws");
  try {
    await gateway.ready;
    assert.deepEqual(await get(`${base}/livez`), { status: 200, body: "ok\n" });
    assert.deepEqual(await get(`${base}/readyz`), { status: 200, body: "ok\n" });
    assert.equal((await get(`${base}/readyz`, "HEAD")).status, 200);
    const stopping = gateway.shutdown(5_000);
    assert.equal(gateway.accepting, false);
    assert.deepEqual(await get(`${base}/readyz`), { status: 503, body: "not ready\n" });
    assert.equal((await get(`${base}/readyz`, "HEAD")).status, 503);
    assert.deepEqual(await get(`${base}/livez`), { status: 200, body: "ok\n" });
    assert.equal((await get(`${base}/health`)).status, 503, "/health keeps its own meaning");
    assert.equal((await lingering.readClose(3_000)).code, 1001);
    lingering.close();
    await within(stopping, 3_000, "shutdown after the last socket closed");
  } finally {
    lingering.close();
    await gateway.shutdown();
  }
});

Deno.test("the node is not ready until every listener is up", async () => {
  const gateway = startTestGateway({ quic: quicTestConfig("native") });
  try {
    // QUIC starts asynchronously: the WebSocket listener alone does not make the node ready.
    assert.equal(gateway.accepting, false);
    await within(gateway.ready, 10_000, "the QUIC listener");
    assert.equal(gateway.accepting, true);
    const { status } = await get(`http://127.0.0.1:${gateway.metricsAddr!.port}/readyz`);
    assert.equal(status, 200);
  } finally {
    await gateway.shutdown();
  }
});

Deno.test("the --workers supervisor answers /livez, and /readyz for its workers", async () => {
  await using config = await tempConfigFile({ ...LOOPBACK_CONFIG, shutdown: { grace_sec: 1 } });
  await using supervisor = new GatewayProcess(["--config", config.path, "--workers", "2"]);
  const line = await supervisor.waitForLog("metrics listening", 20_000, (l) => l.workers === 2);
  const base = new URL(String(line.url)).origin;
  assert.deepEqual(await get(`${base}/livez`), { status: 200, body: "ok\n" });
  // Worker 0 listens before the supervisor serves metrics; its own metrics port may come a
  // moment later.
  let ready = await get(`${base}/readyz`);
  for (let i = 0; i < 50 && ready.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ready = await get(`${base}/readyz`);
  }
  assert.deepEqual(ready, { status: 200, body: "ok\n" });
  supervisor.kill("SIGTERM");
  assert.equal((await within(supervisor.status, 8_000, "the supervisor to exit")).code, 0);
});
