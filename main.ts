/**
 * The gateway's entry point: read flags and config, start, wait for a signal, stop.
 *
 * Exit status: 0 after a clean shutdown, 1 when a listener cannot bind, 2 for bad flags or a
 * bad config file.
 *
 * @module
 */
import { startGateway } from "./src/app.ts";
import { parseCliArgs, UsageError } from "./src/cli_args.ts";
import { CONFIG_PATH_ENV, ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from "./src/config.ts";
import { Logger } from "./src/logger.ts";
import { ListenError } from "./src/resilient_server.ts";

const USAGE = `Usage: deno task gateway [--config <file>]

Runs the MMO gateway.

Options:
  -c, --config <file>  config file (default: $${CONFIG_PATH_ENV}, else ${DEFAULT_CONFIG_PATH};
                       a missing default file means built-in defaults)
  -h, --help           show this help

Go-style flags work too: -config <file>.`;

/** Runs the gateway until SIGINT or SIGTERM; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseCliArgs(args, {
      config: { type: "string", short: "c" },
      help: { type: "boolean", short: "h" },
    });
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
    loaded = await loadConfig(path, required);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    return 2;
  }
  const { config } = loaded;
  const logger = new Logger(config.log.level);
  logger.info("config loaded", { file: loaded.fromFile ? path : "(built-in defaults)" });

  let gateway;
  try {
    gateway = startGateway(config, { logger });
  } catch (error) {
    if (!(error instanceof ListenError)) throw error;
    logger.error(error.message);
    return 1;
  }

  const signalled = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => signalled.resolve(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  const signal = await signalled.promise;
  for (const [name, handler] of handlers) Deno.removeSignalListener(name, handler);
  logger.info("shutting down", { signal, grace_sec: config.shutdown.grace_sec });
  await gateway.shutdown(config.shutdown.grace_sec * 1000);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
