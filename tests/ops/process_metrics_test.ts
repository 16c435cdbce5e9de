import assert from "node:assert/strict";
import {
  readMaxFds,
  readOpenFds,
  readProcessStats,
  renderProcessMetrics,
} from "../../src/ops/process_metrics.ts";
import { GatewayProcess, LOOPBACK_CONFIG, tempConfigFile } from "../_gateway_process.ts";
import { sample } from "../_helpers.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name: "process_open_fds counts descriptors exactly, by directory size and by listing",
  ignore: !linux,
  fn: () => {
    const before = readOpenFds();
    assert.ok(before !== undefined && before >= 3, `open fds: ${before}`);
    assert.equal(readOpenFds(true), before, "the listing fallback disagrees");
    const files = Array.from({ length: 25 }, () => Deno.openSync("/dev/null"));
    try {
      assert.equal(readOpenFds(), before + 25);
      assert.equal(readOpenFds(true), before + 25);
    } finally {
      for (const file of files) file.close();
    }
    assert.equal(readOpenFds(), before);
  },
});

Deno.test({
  name: "a gateway reports its open-files limit and its start time as the kernel knows them",
  ignore: !linux,
  fn: async () => {
    await using config = await tempConfigFile(LOOPBACK_CONFIG);
    await using gateway = new GatewayProcess(["--config", config.path], {
      prefix: ["prlimit", "--nofile=321:321"],
    });
    const { metrics } = await gateway.ports();
    const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
    assert.equal(sample(text, "process_max_fds"), 321);
    const open = sample(text, "process_open_fds")!;
    assert.ok(open > 3 && open < 321, `process_open_fds ${open}`);
    assert.ok(readMaxFds()! > 321, "the test process has its own, larger limit");
    // The kernel's start time: clock ticks after boot (field 22 of stat), against the uptime.
    const proc = await new Deno.Command("cat", {
      args: [`/proc/${gateway.pid}/stat`, "/proc/uptime"],
    }).output();
    const now = Date.now() / 1000;
    const [stat, uptime] = new TextDecoder().decode(proc.stdout).trim().split("\n");
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const started = now - (Number(uptime.split(" ")[0]) - startTicks / 100);
    const reported = sample(text, "process_start_time_seconds")!;
    assert.ok(
      Math.abs(reported - started) < 0.2,
      `process_start_time_seconds ${reported}, the kernel says ${started}`,
    );
  },
});

Deno.test("process CPU time grows with work", () => {
  // Spin until the CPU time has grown by 50 ms; on a shared machine that may take longer.
  const first = readProcessStats();
  const deadline = performance.now() + 5_000;
  let second = readProcessStats();
  while (second.cpuSeconds - first.cpuSeconds < 0.05 && performance.now() < deadline) {
    second = readProcessStats();
  }
  assert.ok(
    second.cpuSeconds - first.cpuSeconds >= 0.05,
    `CPU seconds went from ${first.cpuSeconds} to ${second.cpuSeconds} over 5 s of spinning`,
  );
});

Deno.test("process metrics render under Prometheus's standard names and types", () => {
  const text = renderProcessMetrics({
    openFds: 12,
    maxFds: 1024,
    cpuSeconds: 1.5,
    startTimeSeconds: 1700000000.25,
  }).join("\n");
  for (
    const [name, type, value] of [
      ["process_open_fds", "gauge", 12],
      ["process_max_fds", "gauge", 1024],
      ["process_cpu_seconds_total", "counter", 1.5],
      ["process_start_time_seconds", "gauge", 1700000000.25],
    ] as const
  ) {
    assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, "m"));
    assert.equal(sample(text, name), value);
  }
  const withoutFds = renderProcessMetrics({ cpuSeconds: 1, startTimeSeconds: 1 }).join("\n");
  assert.doesNotMatch(withoutFds, /process_open_fds|process_max_fds/);
});
