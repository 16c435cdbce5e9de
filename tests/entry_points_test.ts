import assert from "node:assert/strict";

async function run(script: string, args: string[]): Promise<{ code: number; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", new URL(script, import.meta.url).pathname, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("the service runner exits 2 with usage for a missing module or a bad flag", async () => {
  const none = await run("../src/cluster/service_runner.ts", []);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Expected one service module, got 0/);
  assert.match(none.stderr, /Usage: deno task service <module>/);
  const bad = await run("../src/cluster/service_runner.ts", ["x.ts", "-natz", "nats://x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--natz'/);
});

Deno.test("the service runner exits 2 when the module exports no services", async () => {
  const empty = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(empty, "export const notAService = 42;\n");
    const { code, stderr } = await run("../src/cluster/service_runner.ts", [empty]);
    assert.equal(code, 2);
    assert.match(stderr, /exports no services \(make them with defineService\)/);
    const missing = await run("../src/cluster/service_runner.ts", ["/nonexistent/services.ts"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Cannot load service module \/nonexistent\/services\.ts/);
  } finally {
    await Deno.remove(empty);
  }
});

Deno.test("the benchmarks exit 2 with usage for an unknown suite, figure or bad number", async () => {
  const suite = await run("../bench/bench.ts", ["--suite", "fast"]);
  assert.equal(suite.code, 2);
  assert.match(
    suite.stderr,
    /"fast" is not one of all, compare, features, fairness, resume, cluster, sweep, quic/,
  );
  const fairness = await run("../bench/fairness.ts", ["--seconds", "0"]);
  assert.equal(fairness.code, 2);
  assert.match(fairness.stderr, /Invalid value for --seconds: "0"/);
  const profile = await run("../bench/cpu_profile.ts", ["--engine", "ws"]);
  assert.equal(profile.code, 2);
  assert.match(profile.stderr, /"ws" is not gateway or deno/);
  const engines = await run("../bench/quic_engines.ts", ["--handshakes", "ten"]);
  assert.equal(engines.code, 2);
  assert.match(engines.stderr, /Invalid value for --handshakes: "ten"/);
  const browser = await run("../bench/browser_webtransport.ts", ["--rounds", "x"]);
  assert.equal(browser.code, 2);
  assert.match(browser.stderr, /Invalid value for --rounds: "x"/);
  const figure = await run("../bench/bench.ts", ["--suite", "sweep", "--only", "nope"]);
  assert.equal(figure.code, 2);
  assert.match(figure.stderr, /No figure "nope" in suite sweep/);
});

Deno.test("the CPU profile summary splits self time by function and kind of code", async () => {
  // A root calling the gateway's receiveText (10 ms self), which calls JSON-ish work in an
  // npm package (30 ms) and a runtime op (20 ms); 40 ms idle.
  const frame = (functionName: string, url: string, lineNumber = 0) => ({
    functionName,
    url,
    lineNumber,
    columnNumber: 0,
  });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame("(root)", ""), children: [2, 5] },
      {
        id: 2,
        callFrame: frame("receiveText", "file:///x/src/core/gateway.ts", 138),
        children: [3, 4],
      },
      { id: 3, callFrame: frame("parse", "file:///x/node_modules/zod/index.js", 9) },
      { id: 4, callFrame: frame("op_ws_send_text", "") },
      { id: 5, callFrame: frame("(idle)", "") },
    ],
    samples: [2, 3, 3, 3, 4, 4, 5, 5, 5, 5],
    timeDeltas: Array(10).fill(10_000),
    startTime: 0,
    endTime: 100_000,
  };
  const path = await Deno.makeTempFile({ suffix: ".cpuprofile" });
  try {
    await Deno.writeTextFile(path, JSON.stringify(profile));
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../bench/cpu_profile.ts", import.meta.url).pathname,
        "--summarise",
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.match(text, /0\.10 s sampled, 0\.06 s busy \(0\.04 s idle\)/);
    assert.match(text, /50\.0% +30 ms +npm packages/);
    assert.match(
      text,
      /16\.7% +10 ms +receiveText src\/core\/gateway\.ts:139 +\[gateway \(src\/\)\]/,
    );
    // receiveText's total time holds what it called: all 60 ms of busy time.
    assert.match(text, /total time[^]*100\.0% +60 ms +receiveText src\/core\/gateway\.ts:139/);
  } finally {
    await Deno.remove(path);
  }
});
