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
  assert.match(suite.stderr, /"fast" is not one of all, compare, cluster, sweep, quic/);
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
