/** Cluster test helpers: gateway nodes on a test nats-server and service processes. */
import type { RunningGateway, StartGatewayOptions } from "../src/app.ts";
import { startGateway } from "../src/app.ts";
import { type GatewayConfigInput, parseConfig } from "../src/config/config.ts";
import { denoRunArgs } from "../src/config/deno_run.ts";
import { Logger } from "../src/core/logger.ts";
import { within } from "./_helpers.ts";

const SERVICE_MODULE = new URL("./fixtures/cluster_services.ts", import.meta.url).pathname;
const RUNNER = new URL("../src/cluster/service_runner.ts", import.meta.url).pathname;

/** Registry timings small enough for tests: announce every 200 ms, drop after 1 s. */
export const TEST_REGISTRY = { announce_interval_ms: 200, instance_ttl_ms: 1_000 } as const;

/**
 * Starts a gateway node in cluster mode on `nats`, loopback port 0, quiet logs (unless
 * `options` gives a logger).
 */
export function clusterNode(
  nats: string,
  overrides: GatewayConfigInput = {},
  options: StartGatewayOptions = {},
): RunningGateway {
  return startGateway(
    parseConfig({
      ...overrides,
      websocket: { host: "127.0.0.1", port: 0 },
      metrics: { host: "127.0.0.1", port: 0 },
      routing: { embedded_services: false, request_timeout_ms: 2_000 },
      cluster: {
        ...overrides.cluster,
        nats: { servers: [nats], reconnect_wait_ms: 100 },
        registry: { ...TEST_REGISTRY, ...overrides.cluster?.registry },
      },
    }),
    // Quiet: the tests provoke handler failures on purpose.
    { logger: new Logger("error", () => {}), ...options },
  );
}

/**
 * Starts `deno task service` on the fixture services (chat, account) and waits until it
 * serves; it announces every 200 ms. Kill it (and await its status) in `finally`.
 */
export async function startServiceProcess(
  nats: string,
  args: string[] = [],
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...denoRunArgs("service"),
      RUNNER,
      SERVICE_MODULE,
      "--nats",
      nats,
      "--reconnect-wait-ms",
      "100",
      "--announce-interval-ms",
      String(TEST_REGISTRY.announce_interval_ms),
      ...args,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let log = "";
  try {
    await within(
      (async () => {
        while (!log.includes('"msg":"serving"')) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`service process exited:\n${log}`);
          log += value;
        }
      })(),
      15_000,
      "the service process",
    );
  } catch (error) {
    child.kill("SIGKILL");
    await child.status;
    throw error;
  }
  (async () => {
    while (!(await reader.read()).done);
  })();
  return child;
}
