/** A gateway for the tool tests, listening on the transport under test, and the flags to reach it. */
import type { RunningGateway } from "../src/app.ts";
import type { ClientTransport } from "../tools/_client_connection.ts";
import type { GatewayConfigInput } from "../src/config/config.ts";
import { startTestGateway } from "./_helpers.ts";
import { quicPort, quicTestConfig, testTls } from "./_quic_harness.ts";

/** The test CA as a file, for the tools' `-ca` flag; removed when the test process ends. */
const caFile = await (async () => {
  const file = await Deno.makeTempFile({ prefix: "tools-ca-", suffix: ".pem" });
  await Deno.writeTextFile(file, testTls.caPem);
  globalThis.addEventListener("unload", () => Deno.removeSync(file));
  return file;
})();

/** Both transports, for tests that run over each. */
export const TRANSPORTS: readonly ClientTransport[] = ["ws", "quic"];

/** The gateway's metric label for a tool transport. */
export function metricLabel(transport: ClientTransport): "websocket" | "quic" {
  return transport === "ws" ? "websocket" : "quic";
}

/**
 * Starts a gateway (QUIC enabled when `transport` is `quic`) and returns it with the tool flags
 * that reach it: `-transport`, `-addr` and, for QUIC, `-ca`.
 */
export async function startToolGateway(
  transport: ClientTransport,
  overrides: GatewayConfigInput = {},
): Promise<{ gateway: RunningGateway; flags: string[] }> {
  if (transport === "ws") {
    const gateway = startTestGateway(overrides);
    return {
      gateway,
      flags: ["-transport", "ws", "-addr", `127.0.0.1:${gateway.websocketAddr!.port}`],
    };
  }
  const gateway = startTestGateway({ ...overrides, quic: quicTestConfig("native") });
  try {
    const port = await quicPort(gateway);
    return { gateway, flags: ["-transport", "quic", "-addr", `127.0.0.1:${port}`, "-ca", caFile] };
  } catch (error) {
    await gateway.shutdown(0);
    throw error;
  }
}
