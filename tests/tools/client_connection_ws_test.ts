import assert from "node:assert/strict";
import { ConnectError, type ConnectOptions } from "../../tools/_client_connection.ts";
import { connectWs } from "../../tools/_client_connection_ws.ts";
import { SourcePorts } from "../../tools/_source_ports.ts";
import { startTestGateway, waitFor } from "../_helpers.ts";

/** A source address no other test connects from, so its ports are ours. */
const SOURCE = "127.0.0.201";

function remotePorts(gateway: ReturnType<typeof startTestGateway>): number[] {
  return [...gateway.sessions.values()].map((s) => Number(s.remoteAddr.split(":").at(-1)))
    .sort((a, b) => a - b);
}

Deno.test("connectWs connects from the source port it takes and gives it back on close", async () => {
  await using gw = startTestGateway();
  const target: ConnectOptions = {
    hostname: "127.0.0.1",
    port: gw.websocketAddr!.port,
    path: "/ws",
    timeoutMs: 5_000,
    localAddress: SOURCE,
  };
  // A connection from a port the kernel picked, then a range that starts at that taken port.
  const first = await connectWs(target);
  try {
    await waitFor(() => gw.sessions.size === 1, 5_000, "the first session");
    const [taken] = remotePorts(gw);
    const localPorts = new SourcePorts({ low: taken, high: taken + 1 }, 0);
    const second = await connectWs({ ...target, localPorts });
    try {
      await waitFor(() => gw.sessions.size === 2, 5_000, "the second session");
      assert.deepEqual(remotePorts(gw), [taken, taken + 1], "moved on to the next port");
      assert.equal(localPorts.held, 1);
      await assert.rejects(
        () => connectWs({ ...target, localPorts }),
        (error) => error instanceof ConnectError && error.reason === "address_not_available",
        "both ports of the range are taken",
      );
      assert.equal(localPorts.held, 1);
    } finally {
      await second.close();
    }
    assert.equal(localPorts.held, 0);
  } finally {
    await first.close();
  }
});
