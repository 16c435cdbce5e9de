import assert from "node:assert/strict";
import { startGateway } from "../../src/app.ts";
import { parseConfig } from "../../src/config/config.ts";
import { Logger } from "../../src/core/logger.ts";
import {
  ADVISED_UDP_RECEIVE_BUFFER_BYTES,
  readUdpReceiveBufferBytes,
  udpReceiveBufferAdvice,
} from "../../src/transport/udp_receive_buffer.ts";
import { quicPort, quicTestConfig } from "../_quic_harness.ts";

/** `net.core.rmem_default` as the kernel reports it (read by `cat`: Deno needs --allow-all). */
async function rmemDefault(): Promise<number> {
  const out = await new Deno.Command("cat", { args: ["/proc/sys/net/core/rmem_default"] }).output();
  assert.ok(out.success, "cannot read /proc/sys/net/core/rmem_default");
  return Number.parseInt(new TextDecoder().decode(out.stdout), 10);
}

Deno.test("readUdpReceiveBufferBytes reads what a new UDP socket gets: net.core.rmem_default", async () => {
  assert.equal(readUdpReceiveBufferBytes(), await rmemDefault());
});

Deno.test("udpReceiveBufferAdvice advises the sysctl below 8 MiB and says nothing from it on", () => {
  assert.deepEqual(udpReceiveBufferAdvice(212_992), {
    receive_buffer_bytes: 212_992,
    advised_bytes: 8_388_608,
    fix: "sysctl -w net.core.rmem_default=8388608 net.core.rmem_max=8388608",
  });
  assert.equal(udpReceiveBufferAdvice(ADVISED_UDP_RECEIVE_BUFFER_BYTES), undefined);
  assert.equal(udpReceiveBufferAdvice(undefined), undefined);
});

Deno.test("a QUIC listener warns at start when this machine's UDP receive buffer is small", async () => {
  const lines: string[] = [];
  const gateway = startGateway(
    parseConfig({
      websocket: { enabled: false },
      metrics: { enabled: false },
      quic: quicTestConfig("native"),
    }),
    { logger: new Logger("warn", (line) => lines.push(line)) },
  );
  try {
    await quicPort(gateway);
    const warned = lines.map((line) => JSON.parse(line)).filter((event) =>
      String(event.msg).includes("UDP receive buffer")
    );
    // Whatever this machine is set to, the log says so exactly when it is below the advice.
    const advice = udpReceiveBufferAdvice(await rmemDefault());
    assert.equal(warned.length, advice === undefined ? 0 : 1);
    if (advice !== undefined) assert.equal(warned[0].fix, advice.fix);
  } finally {
    await gateway.shutdown(1_000);
  }
});
