/**
 * The gateway's entry point: read flags and config, start, wait for a signal, stop.
 *
 * Exit status: 0 after a clean shutdown, 1 when a listener cannot bind or (`--workers`) a
 * worker fails to start, 2 for bad flags, a bad config file or `GATEWAY_*` variable, or an
 * unusable TLS certificate or key file. `--check-config` validates the config and exits 0 or 2
 * without starting.
 *
 * @module
 */
import { type RunningGateway, startGateway } from "./src/app.ts";
import { intFlag, parseCliArgs, UsageError } from "./src/config/cli_args.ts";
import {
  checkWorkers,
  CONFIG_PATH_ENV,
  ConfigError,
  DEFAULT_CONFIG_PATH,
} from "./src/config/config.ts";
import { loadConfigWithEnv } from "./src/config/config_env.ts";
import { Logger } from "./src/core/logger.ts";
import { ListenError } from "./src/transport/resilient_server.ts";
import {
  readWorkerAssignment,
  WORKER_ENV,
  workerConfig,
  WorkerStartError,
  WorkerSupervisor,
} from "./src/cluster/worker_supervisor.ts";
import {
  sendToSupervisor,
  supervisorGone,
  WorkerChannelError,
} from "./src/cluster/worker_channel.ts";
import { installLastResortHandlers } from "./src/ops/last_resort.ts";
import { TlsCertError } from "./src/transport/tls_certs.ts";
import { TokenKeyError, type TokenVerifier } from "./src/core/token_verifier.ts";
import { JwtVerifier } from "./src/core/token_verifier_jwt.ts";

const USAGE = `Usage: deno task gateway [--config <file>] [--workers <n>] [--check-config]

Runs the MMO gateway. GATEWAY_<SECTION>_<FIELD> variables override config fields
(GATEWAY_WEBSOCKET_PORT=8081; see docs/operations.md).

Options:
  -c, --config <file>  config file (default: $${CONFIG_PATH_ENV}, else ${DEFAULT_CONFIG_PATH};
                       a missing default file means built-in defaults)
  -w, --workers <n>    run n gateway processes sharing the ports (default: cluster.workers)
      --check-config   validate the config file and environment, then exit 0 or 2
  -h, --help           show this help

Go-style flags work too: -config <file>.`;

/** Runs the gateway until SIGINT or SIGTERM; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, workers;
  try {
    flags = parseCliArgs(args, {
      config: { type: "string", short: "c" },
      workers: { type: "string", short: "w" },
      "check-config": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    });
    workers = intFlag("workers", flags.workers, 0, 1, 64);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const fromEnv = Deno.env.get(CONFIG_PATH_ENV) || undefined;
  const path = flags.config ?? fromEnv ?? DEFAULT_CONFIG_PATH;
  const required = flags.config !== undefined || fromEnv !== undefined;

  let loaded;
  try {
    // Workers inherit the environment, so they apply the same variables.
    loaded = await loadConfigWithEnv(path, required, Deno.env.toObject(), {
      reserved: [CONFIG_PATH_ENV, WORKER_ENV],
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 2;
  }
  const file = loaded.fromFile ? path : "(built-in defaults)";
  let gateway: RunningGateway | undefined;
  const assignment = readWorkerAssignment();
  const config = assignment ? workerConfig(loaded.config, assignment) : loaded.config;
  const workerCount = workers || config.cluster.workers;
  // Keys are loaded before anything starts: an unusable one is a config error (exit 2).
  let tokenVerifier: TokenVerifier | undefined;
  try {
    if (!assignment) checkWorkers(config, workerCount, path);
    if (config.auth.mode === "jwt") tokenVerifier = await JwtVerifier.load(config.auth.jwt);
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof TokenKeyError)) throw error;
    console.error(
      error instanceof TokenKeyError ? new ConfigError(path, error.message).message : error.message,
    );
    return 2;
  }
  if (flags["check-config"]) {
    const set = loaded.variables.length > 0 ? ` with ${loaded.variables.join(", ")}` : "";
    console.log(`Config OK: ${file}${set}`);
    return 0;
  }
  const logger = new Logger(
    config.log.level,
    undefined,
    assignment ? { worker: assignment.index } : {},
  );
  if (!assignment) {
    logger.info("config loaded", { file, env: loaded.variables });
  }
  let uncaught = 0;
  installLastResortHandlers(logger, () => {
    uncaught++;
    gateway?.metrics.onUncaughtError();
  });

  // Listen before starting: a signal during start-up must stop what has started (a
  // supervisor killed by the default action would leave its workers running).
  const signalled = Promise.withResolvers<string>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => signalled.resolve(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const stopListening = () => {
    for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  };
  if (assignment) supervisorGone().then(() => signalled.resolve("supervisor exited"));

  let running: { shutdown(graceMs: number): Promise<void> };
  try {
    if (!assignment && workerCount > 1) {
      if (config.cluster.nats.servers.length === 0) {
        logger.warn("workers without cluster.nats: pushes reach only the worker's own sessions");
      }
      const supervisor = new WorkerSupervisor({ count: workerCount, config, args, logger });
      running = { shutdown: () => supervisor.shutdown() };
      await supervisor.start();
    } else {
      gateway = startGateway(config, {
        logger,
        reusePort: assignment !== undefined,
        tokenVerifier,
      });
      running = gateway;
      await gateway.ready;
      if (assignment) {
        sendToSupervisor({
          type: "ready",
          worker: assignment.index,
          websocket_port: gateway.websocketAddr?.port ?? null,
          metrics_port: gateway.metricsAddr!.port,
        });
      }
    }
  } catch (error) {
    if (
      !(error instanceof ListenError || error instanceof TlsCertError ||
        error instanceof WorkerStartError || error instanceof WorkerChannelError)
    ) throw error;
    stopListening();
    logger.error(error.message);
    await gateway?.shutdown(0);
    return error instanceof TlsCertError ? 2 : 1;
  }

  const signal = await signalled.promise;
  stopListening();
  logger.info("shutting down", { signal, grace_sec: config.shutdown.grace_sec });
  await running.shutdown(config.shutdown.grace_sec * 1000);
  if (uncaught > 0) logger.warn("stopped after uncaught errors", { count: uncaught });
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
