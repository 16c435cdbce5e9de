/**
 * The gateway measures each idle session's round-trip time by itself, on both transports, and
 * shows it in the admin API and in `gateway_session_rtt_seconds`.
 */
import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import { GatewayClient } from "../../src/client/mod.ts";
import { sample, scrape, waitFor } from "../_helpers.ts";
import { quicPort, quicTestClient, quicTestConfig } from "../_quic_harness.ts";
import { admin, testAdminTokens } from "../_admin.ts";

function rttGateway(quic: boolean) {
  return startGateway(
    parseConfig({
      session: { rtt_probe_interval_sec: 2, rtt_probe_idle_sec: 1 },
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      admin: { enabled: true, port: 0 },
      ...(quic && { quic: quicTestConfig("native") }),
    }),
    { logger: new Logger("error", () => {}), adminTokens: testAdminTokens },
  );
}

Deno.test("RTT: an idle WebSocket session's round trip is measured through the SDK's answer", async () => {
  await using gateway = rttGateway(false);
  await using client = await GatewayClient.connect(
    `ws://127.0.0.1:${gateway.websocketAddr!.port}/ws`,
  );
  assert.equal(await client.request("echo", 1), 1);
  const session = [...gateway.sessions.values()][0];
  await waitFor(() => session.rttMs !== undefined, 5_000, "an RTT measurement");
  const listed = await admin(gateway.adminAddr!.port, `/admin/sessions/${session.id}`);
  assert.equal(typeof listed.body.rtt_ms, "number");
  assert.ok((listed.body.rtt_ms as number) < 1_000, `rtt ${listed.body.rtt_ms} ms`);
  const text = await scrape(gateway);
  assert.ok(sample(text, 'gateway_session_rtt_seconds_count{transport="websocket"}')! >= 1);
  assert.equal(sample(text, 'gateway_session_rtt_seconds_count{transport="quic"}'), 0);
  assert.equal(client.state, "open");
});

Deno.test("RTT: an idle QUIC session's round trip is measured by a client that answers the ping", async () => {
  await using gateway = rttGateway(true);
  const client = await quicTestClient(await quicPort(gateway), "native");
  try {
    await client.send('{"type":"ping","id":1}'); // opens the stream
    assert.equal(JSON.parse(await client.next()).type, "pong");
    const ping = JSON.parse(await client.next(5_000));
    assert.equal(ping.type, "ping");
    assert.ok(Number.isSafeInteger(ping.id));
    await client.send(JSON.stringify({ type: "pong", id: ping.id }));
    const session = [...gateway.sessions.values()][0];
    await waitFor(() => session.rttMs !== undefined, 3_000, "an RTT measurement");
    const listed = await admin(gateway.adminAddr!.port, "/admin/sessions?transport=quic");
    const [info] = listed.body.sessions as { rtt_ms: number; transport: string }[];
    assert.equal(info.transport, "quic");
    assert.ok(info.rtt_ms > 0 && info.rtt_ms < 1_000, `rtt ${info.rtt_ms} ms`);
    const text = await scrape(gateway);
    assert.equal(sample(text, 'gateway_session_rtt_seconds_count{transport="quic"}'), 1);
  } finally {
    await client.close();
  }
});
