import assert from "node:assert/strict";
import { sample, scrape, startTestGateway } from "../_helpers.ts";
import { runTool } from "../_run_tool.ts";
import { metricLabel, startToolGateway, TRANSPORTS } from "../_tool_gateway.ts";

const REPLY_LINE = /^< (\{.*\}) {2}\((\d+\.\d{3}) ms\)$/;

function replies(stdout: string): { reply: Record<string, unknown>; rttMs: number }[] {
  return stdout.split("\n").flatMap((line) => {
    const match = REPLY_LINE.exec(line);
    return match ? [{ reply: JSON.parse(match[1]), rttMs: Number(match[2]) }] : [];
  });
}

for (const transport of TRANSPORTS) {
  Deno.test(`ws_client over ${transport} prints each pong with its round-trip time and exits 0`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, stdout, stderr } = await runTool("ws_client", [
      ...flags,
      "-messages",
      "3",
      "-interval",
      "10",
    ]);
    assert.equal(code, 0, stderr);
    const got = replies(stdout);
    assert.deepEqual(got.map((r) => [r.reply.type, r.reply.id]), [
      ["pong", 1],
      ["pong", 2],
      ["pong", 3],
    ]);
    for (const { rttMs } of got) assert.ok(rttMs > 0 && rttMs < 5_000, `rtt ${rttMs}`);
    assert.equal(gateway.metrics.messagesReceived[metricLabel(transport)], 3);
  });

  Deno.test(`ws_client over ${transport} answers the gateway's RTT probes and does not print them`, async () => {
    const { gateway, flags } = await startToolGateway(transport, {
      session: { rtt_probe_interval_sec: 2, rtt_probe_idle_sec: 1 },
    });
    await using _ = gateway;
    // Idle for 3.5 s between the two pings: the gateway probes the session in that gap.
    const { code, stdout, stderr } = await runTool("ws_client", [
      ...flags,
      "-messages",
      "2",
      "-interval",
      "3500",
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(replies(stdout).map((r) => [r.reply.type, r.reply.id]), [
      ["pong", 1],
      ["pong", 2],
    ]);
    assert.equal(
      stdout.split("\n").filter((line) => line.startsWith("<")).length,
      2,
      `only the two replies are printed:\n${stdout}`,
    );
    const label = metricLabel(transport);
    const measured = sample(
      await scrape(gateway),
      `gateway_session_rtt_seconds_count{transport="${label}"}`,
    );
    assert.ok(measured! >= 1, `no round trip measured through ws_client's answer: ${measured}`);
  });

  Deno.test(`ws_client over ${transport} sends -data to -route and prints the response`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, stdout, stderr } = await runTool("ws_client", [
      ...flags,
      "--messages=2",
      "--interval=0",
      "--route=echo",
      `--data={"hp":42}`,
    ]);
    assert.equal(code, 0, stderr);
    assert.deepEqual(replies(stdout).map((r) => r.reply), [
      { type: "response", id: 1, data: { hp: 42 } },
      { type: "response", id: 2, data: { hp: 42 } },
    ]);
  });

  Deno.test(`ws_client over ${transport} in interactive mode sends each stdin line and prints the replies`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, stdout, stderr } = await runTool("ws_client", [...flags, "-i"], {
      stdin: 'hello\n{"type":"ping","id":99}\n{not json\nagain\n',
    });
    assert.equal(code, 0, stderr);
    const got = replies(stdout).map((r) => r.reply);
    // It starts with hello: the session is resumable, and what it is sent carries seq.
    assert.deepEqual([got[0].id, typeof (got[0].data as { resume_token: unknown }).resume_token], [
      1,
      "string",
    ]);
    assert.deepEqual(got[1], { seq: 1, type: "response", id: 2, data: "hello" });
    assert.equal(got[2].type, "pong");
    assert.equal(got[2].id, 99);
    assert.equal(got[2].seq, undefined, "a pong belongs to the connection");
    assert.deepEqual([got[3].seq, got[3].code], [2, "bad_json"]);
    // The tool's own ids continue past the one typed by hand.
    assert.deepEqual(got[4], { seq: 3, type: "response", id: 100, data: "again" });
    assert.equal(gateway.metrics.messagesReceived[metricLabel(transport)], 5);
  });

  Deno.test(`ws_client over ${transport} in interactive mode resumes the session on /resume`, async () => {
    const { gateway, flags } = await startToolGateway(transport);
    await using _ = gateway;
    const { code, stdout, stderr } = await runTool("ws_client", [...flags, "-i"], {
      stdin: "before\n/resume\nafter\n",
    });
    assert.equal(code, 0, stderr);
    const all = stdout.split("\n").filter((line) => line.startsWith("< "))
      .map((line) => JSON.parse(line.slice(2).replace(/ {2}\(\d+\.\d{3} ms\)$/, "")));
    const byId = (id: number) => all.filter((m) => m.id === id);
    const session = byId(1)[0].data.session;
    const resumed = byId(3);
    assert.equal(resumed.length, 1, stdout);
    assert.equal(resumed[0].data.session, session);
    assert.equal(resumed[0].data.replayed, 0, "the tool waits for replies before it drops");
    assert.deepEqual(byId(2), [{ seq: 1, type: "response", id: 2, data: "before" }]);
    assert.deepEqual(byId(4), [{ seq: 2, type: "response", id: 4, data: "after" }]);
    assert.match(stdout, /"type":"resume".*"token":"<token>","last_seq":1/);
    assert.match(stderr, /Dropped the connection; resuming after seq 1/);
    assert.equal(gateway.metrics.resumes.ok, 1);
  });
}

Deno.test("ws_client exits 1 with a clear message when it cannot connect", async () => {
  const gw = startTestGateway();
  const port = gw.websocketAddr!.port;
  await gw.shutdown(0);
  const { code, stdout, stderr } = await runTool("ws_client", ["-addr", `127.0.0.1:${port}`]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(stderr, new RegExp(`Cannot connect to ws://127\\.0\\.0\\.1:${port}/ws: .*REFUSED`));
});

Deno.test("ws_client over quic names the missing CA when the certificate is not trusted", async () => {
  const { gateway, flags } = await startToolGateway("quic");
  await using _ = gateway;
  const withoutCa = flags.slice(0, flags.indexOf("-ca"));
  const { code, stderr } = await runTool("ws_client", [...withoutCa, "-messages", "1"]);
  assert.equal(code, 1);
  assert.match(stderr, /Cannot connect to quic:\/\/127\.0\.0\.1:\d+: .*certificate.*-ca/);
});

Deno.test("ws_client exits 1 when the gateway closes the connection", async () => {
  // Two bad frames at a limit of one: the gateway closes with 1008.
  await using gw = startTestGateway({ protocol: { max_protocol_errors: 1 } });
  const { code, stderr } = await runTool(
    "ws_client",
    ["-addr", `127.0.0.1:${gw.websocketAddr!.port}`, "-i"],
    { stdin: "{bad\n{bad\n" },
  );
  assert.equal(code, 1);
  assert.match(stderr, /the gateway closed the connection: 1008/);
});

Deno.test("ws_client prints usage and exits 2 on bad flags", async () => {
  for (
    const args of [
      ["--nope"],
      ["-messages", "many"],
      ["-transport", "tcp"],
      ["-addr", "localhost"],
      ["-path", "ws"],
      ["-connect-timeout", "0"],
      ["-ca", "/nonexistent/ca.pem"],
    ]
  ) {
    const { code, stdout, stderr } = await runTool("ws_client", args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.equal(stdout, "");
    assert.match(stderr, /Usage: deno task ws-client/, args.join(" "));
  }
});

Deno.test("ws_client prints usage on -help and exits 0", async () => {
  const { code, stdout } = await runTool("ws_client", ["-help"]);
  assert.equal(code, 0);
  assert.match(stdout, /-transport <ws\|quic>/);
});
