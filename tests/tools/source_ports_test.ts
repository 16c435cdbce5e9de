import assert from "node:assert/strict";
import {
  DEFAULT_EPHEMERAL_PORTS,
  ephemeralPortRange,
  KERNEL_PORTS,
  loadTestPortRange,
  SourcePorts,
} from "../../tools/_source_ports.ts";

Deno.test("SourcePorts hands out ports round-robin from the start, wrapping at the end", () => {
  const ports = new SourcePorts({ low: 40_000, high: 40_003 }, 0.5);
  assert.deepEqual([ports.take(), ports.take(), ports.take()], [40_002, 40_003, 40_000]);
  assert.equal(ports.held, 3);
});

Deno.test("SourcePorts skips held ports and hands released ones out again in round-robin order", () => {
  const ports = new SourcePorts({ low: 40_000, high: 40_002 }, 0);
  const [a, b, c] = [ports.take(), ports.take(), ports.take()];
  assert.equal(ports.take(), undefined, "every port is held");
  ports.release(b!);
  assert.equal(ports.take(), b);
  ports.release(c!);
  ports.release(a!);
  assert.deepEqual([ports.take(), ports.take()], [c, a]);
});

Deno.test("SourcePorts ignores releasing a port it does not hold", () => {
  const ports = new SourcePorts({ low: 40_000, high: 40_001 }, 0);
  ports.take();
  ports.release(40_001);
  ports.release(39_999);
  ports.release(70_000);
  assert.equal(ports.held, 1);
  assert.equal(ports.take(), 40_001);
  assert.equal(ports.take(), undefined);
});

Deno.test("SourcePorts refuses a range outside 1-65535 or upside down", () => {
  for (const range of [{ low: 0, high: 10 }, { low: 100, high: 65_536 }, { low: 50, high: 40 }]) {
    assert.throws(() => new SourcePorts(range), RangeError, JSON.stringify(range));
  }
});

Deno.test("ephemeralPortRange reads the kernel's range, else falls back to Linux's default", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "32768\t60999\n");
    assert.deepEqual(ephemeralPortRange(file), { low: 32_768, high: 60_999 });
    for (const text of ["", "60999 32768", "1 70000", "a b"]) {
      await Deno.writeTextFile(file, text);
      assert.deepEqual(ephemeralPortRange(file), DEFAULT_EPHEMERAL_PORTS, JSON.stringify(text));
    }
  } finally {
    await Deno.remove(file);
  }
  assert.deepEqual(ephemeralPortRange(`${file}.missing`), DEFAULT_EPHEMERAL_PORTS);
});

Deno.test("the load test leaves the start of the ephemeral range to the kernel's own connects", () => {
  assert.deepEqual(loadTestPortRange({ low: 32_768, high: 60_999 }), { low: 36_864, high: 60_999 });
  assert.equal(KERNEL_PORTS, 4_096);
  // A small range keeps half for the kernel.
  assert.deepEqual(loadTestPortRange({ low: 40_000, high: 40_999 }), { low: 40_500, high: 40_999 });
});
