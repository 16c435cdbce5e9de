import assert from "node:assert/strict";
import type { LoadReport } from "../../tools/_load_report.ts";
import { DisconnectShutdown } from "../../src/core/disconnect.ts";
import { sample, scrape, startTestGateway, waitFor } from "../_helpers.ts";
import { runTool } from "../_run_tool.ts";
import { metricLabel, startToolGateway, TRANSPORTS } from "../_tool_gateway.ts";

async function loadTest(args: string[]): Promise<{ code: number; report: LoadReport }> {
  const { code, stdout, stderr } = await runTool("load_test", [...args, "-json"]);
  try {
    return { code, report: JSON.parse(stdout) };
  } catch {
    throw new Error(`load_test exited ${code} without a JSON report:\n${stdout}\n${stderr}`);
  }
}

for (const transport of TRANSPORTS) {
  const label = metricLabel(transport);

  Deno.test(`load_test over ${transport}: JSON report counts match the gateway's metrics`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, report } = await loadTest([
      ...flags,
      "-conn",
      "5",
      "-msg",
      "4",
      "-interval",
      "20",
      "-payload",
      "100",
    ]);
    assert.equal(code, 0, report.verdict);
    assert.equal(report.passed, true);
    assert.equal(report.settings.transport, transport);
    // One process on loopback connects from 127.0.0.1, from ports the tool picks.
    assert.deepEqual(report.settings.source_addresses, transport === "ws" ? ["127.0.0.1"] : []);
    assert.deepEqual(report.connections, {
      attempted: 5,
      established: 5,
      reconnects: 0,
      failed: 0,
      failure_reasons: {},
      peak_open: report.connections.peak_open,
      open_at_stop: 0,
    });
    assert.ok(report.connections.peak_open >= 1 && report.connections.peak_open <= 5);
    assert.deepEqual(report.messages, { sent: 20, received: 20, lost: 0, error_replies: {} });
    assert.equal(report.latency_ms.count, 20);
    assert.ok(report.latency_ms.p50_ms > 0);
    assert.ok(report.latency_ms.p50_ms <= report.latency_ms.p99_ms);
    assert.ok(report.latency_ms.p99_ms <= report.latency_ms.max_ms);
    assert.equal(report.errors, 0);

    const metrics = await scrape(gateway);
    assert.equal(sample(metrics, `gateway_connections_total{transport="${label}"}`), 5);
    assert.equal(sample(metrics, `gateway_messages_received_total{transport="${label}"}`), 20);
    assert.equal(gateway.metrics.messagesSent[label], report.messages.received);
  });

  Deno.test(`load_test over ${transport} spreads sessions over processes and holds them for -duration`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, report } = await loadTest([
      ...flags,
      "-conn",
      "6",
      "-procs",
      "2",
      "-msg",
      "0",
      "-interval",
      "200",
      "-duration",
      "2",
    ]);
    assert.equal(code, 0, report.verdict);
    // Only the WebSocket client can pick its source address.
    assert.deepEqual(
      report.settings.source_addresses,
      transport === "ws" ? ["127.0.0.1", "127.0.0.2"] : [],
    );
    assert.equal(report.connections.established, 6);
    assert.equal(report.connections.open_at_stop, 6);
    assert.equal(report.duration_reached, true);
    assert.match(report.verdict, /^PASS: .*6 of 6 sessions held open until -duration ended/);
    assert.equal(report.messages.lost, 0);
    assert.ok(report.messages.sent >= 6, `sent ${report.messages.sent}`);
    assert.equal(report.messages.received, report.messages.sent);
    assert.equal(gateway.metrics.connectionsTotal[label], 6);
    assert.equal(gateway.metrics.messagesReceived[label], report.messages.sent);
  });
}

for (const transport of TRANSPORTS) {
  Deno.test(`load_test -reconnect over ${transport} drops and resumes sessions with nothing lost or repeated`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, report } = await loadTest([
      ...flags,
      "-conn",
      "20",
      "-msg",
      "0",
      "-duration",
      "2",
      "-interval",
      "5",
      "-payload",
      "16",
      "-reconnect",
      "20",
    ]);
    assert.equal(code, 0, report.verdict);
    assert.ok(report.resume.resumes >= 10, `only ${report.resume.resumes} resumes`);
    assert.deepEqual(
      [report.resume.duplicates, report.resume.seq_gaps, report.resume.failures],
      [0, 0, {}],
    );
    assert.equal(report.messages.lost, 0);
    assert.equal(report.messages.received, report.messages.sent);
    assert.equal(gateway.metrics.resumes.ok, report.resume.resumes);
    assert.equal(gateway.metrics.replayedMessages, report.resume.replayed);
    assert.match(report.verdict, /resumes with 0 duplicated and 0 skipped messages/);
  });
}

Deno.test("load_test fails when refused connections exceed -max-errors, and names the reason", async () => {
  await using gw = startTestGateway({ websocket: { max_connections: 2 } });
  const args = [
    "-addr",
    `127.0.0.1:${gw.websocketAddr!.port}`,
    "-conn",
    "4",
    "-msg",
    "0",
    "-duration",
    "1",
    "-interval",
    "100",
  ];
  const tolerant = await loadTest([...args, "-max-errors", "2"]);
  assert.equal(tolerant.code, 0, tolerant.report.verdict);
  assert.equal(tolerant.report.connections.established, 2);
  assert.deepEqual(tolerant.report.connections.failure_reasons, { http_503: 2 });

  const strict = await loadTest([...args, "-max-errors", "1"]);
  assert.equal(strict.code, 1);
  assert.equal(strict.report.passed, false);
  assert.match(strict.report.verdict, /^FAIL: /);
  assert.equal(strict.report.connections.failure_reasons.http_503, 2);
});

Deno.test("load_test prints a plain progress line every 5 s when stderr is not a terminal", async () => {
  await using gw = startTestGateway();
  const { code, stdout, stderr } = await runTool("load_test", [
    "-addr",
    `127.0.0.1:${gw.websocketAddr!.port}`,
    "-conn",
    "2",
    "-msg",
    "0",
    "-interval",
    "500",
    "-duration",
    "6",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /^5s {2}open 2\/2 {2}connecting 0 {2}failed 0 {2}sent \d+ {2}received \d+ \(\d+ msg\/s\) {2}errors 0$/m,
  );
  assert.doesNotMatch(stderr, /\r/);
  assert.match(stdout, /^PASS: 2 of 2 sessions established/m);
});

Deno.test("load_test connects from source ports it picks in turn, not the kernel's", async () => {
  await using gw = startTestGateway();
  const run = runTool("load_test", [
    "-addr",
    `127.0.0.1:${gw.websocketAddr!.port}`,
    "-conn",
    "6",
    "-msg",
    "0",
    "-interval",
    "500",
    "-duration",
    "2",
  ]);
  let ports: number[] = [];
  try {
    await waitFor(() => gw.sessions.size === 6, 10_000, "6 sessions to open");
    ports = [...gw.sessions.values()].map((s) => Number(s.remoteAddr.split(":").at(-1)));
  } finally {
    await run;
  }
  const { code, stderr } = await run;
  assert.equal(code, 0, stderr);
  // The kernel scatters its picks over thousands of ports; the tool takes the next one each
  // time, skipping only ports something else holds (and wrapping at the end of the range).
  ports.sort((a, b) => a - b);
  const span = ports[5] - ports[0];
  assert.ok(span < 20 || span > 28_232 - 20, `ports ${ports.join(", ")}`);
});

Deno.test("load_test -hold reopens sessions the gateway closed and reports them live", async () => {
  await using gw = startTestGateway();
  const run = runTool("load_test", [
    "-addr",
    `127.0.0.1:${gw.websocketAddr!.port}`,
    "-conn",
    "3",
    "-procs",
    "2",
    "-msg",
    "0",
    "-interval",
    "300",
    "-duration",
    "6",
    "-hold",
    "-max-errors",
    "10",
    "-json",
  ]);
  try {
    await waitFor(() => gw.sessions.size === 3, 10_000, "3 sessions to open");
    assert.equal(gw.sessions.closeAll(DisconnectShutdown), 3);
    // Reopened after 0.5-1.5 s.
    await waitFor(
      () => gw.metrics.connectionsTotal.websocket === 6 && gw.sessions.size === 3,
      3_000,
      "the 3 closed sessions to be opened again",
    );
  } finally {
    // Let the tool finish whatever failed above, so no process outlives the test.
    await run;
  }
  const { code, stdout, stderr } = await run;
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout) as LoadReport;
  assert.equal(report.settings.hold, true);
  assert.equal(report.connections.established, 6);
  assert.equal(report.connections.reconnects, 3);
  assert.equal(report.connections.open_at_stop, 3);
  // A ping crossing the close frame can make the gateway reset the connection (1006).
  const closes = Object.entries(report.closes.by_server);
  assert.equal(closes.reduce((sum, [, n]) => sum + n, 0), 3, JSON.stringify(closes));
  for (const [close] of closes) assert.match(close, /^1001 going away$|^1006 /);
  // A ping on its way when the gateway closed counts as lost too.
  assert.equal(report.errors, 3 + report.messages.lost);
  assert.match(
    report.verdict,
    /^PASS: 3 of 3 sessions established .*3 of 3 sessions held open until -duration ended \(3 reconnects\)/,
  );
  assert.match(
    stderr,
    /^5s {2}open 3\/3 {2}connecting 0 {2}failed 0 {2}reconnects 3 {2}sent \d+ {2}received \d+ \(\d+ msg\/s\) {2}errors \d+$/m,
  );
});

Deno.test("load_test exits 1 with a clear message when it cannot connect", async () => {
  const gw = startTestGateway();
  const port = gw.websocketAddr!.port;
  await gw.shutdown(0);
  const { code, stderr } = await runTool("load_test", ["-addr", `127.0.0.1:${port}`, "-conn", "2"]);
  assert.equal(code, 1);
  assert.match(stderr, new RegExp(`cannot connect to ws://127\\.0\\.0\\.1:${port}/ws: refused`));
});

Deno.test("load_test prints usage and exits 2 on bad flags", async () => {
  for (
    const args of [
      ["--bogus"],
      ["-conn", "0"],
      ["-conn", "ten"],
      ["-msg", "0"],
      ["-procs", "3", "-conn", "2"],
      ["-hold", "-msg", "5", "-duration", "1"],
      ["-reconnect", "5"],
      ["-transport", "udp"],
      ["-interval"],
    ]
  ) {
    const { code, stdout, stderr } = await runTool("load_test", args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "");
    assert.match(stderr, /Usage: deno task load-test/, args.join(" "));
  }
});
