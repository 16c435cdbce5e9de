/**
 * `deno task service <module>`: runs the services a module exports as their own process
 * against NATS (see `service_process.ts`).
 *
 * @module
 */
import { intFlag, parseCliArgsWithPositionals, UsageError } from "../config/cli_args.ts";
import { Logger } from "../core/logger.ts";
import type { Service } from "../core/service.ts";
import { serveServices, type ServiceProcess } from "./service_process.ts";

const USAGE = `Usage: deno task service <module> [--nats <url>] [--prefix <p>]

Runs the services a module exports (values made with defineService) against NATS.

Options:
  --nats <url>      NATS server (default: nats://127.0.0.1:4222; repeat for several)
  --prefix <p>      subject prefix, as cluster.nats.subject_prefix (default: mmo)
  --reconnect-wait-ms <n>  wait between reconnects (default: 500)
  --announce-interval-ms <n>  how often to announce the services to the gateways; at most
                    half of their cluster.registry.instance_ttl_ms (default: 1000)
  --id <id>         this process's id in the cluster (default: random)
  -h, --help        show this help

Example: deno task service src/services/chat.ts --nats nats://127.0.0.1:4222`;

function isService(value: unknown): value is Service {
  return typeof value === "object" && value !== null &&
    typeof (value as Service).name === "string" &&
    typeof (value as Service).routes === "object";
}

/** Loads the module's services and serves them until SIGINT/SIGTERM; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, modules, reconnectWaitMs, announceIntervalMs;
  try {
    ({ values: flags, positionals: modules } = parseCliArgsWithPositionals(args, {
      nats: { type: "string", multiple: true },
      prefix: { type: "string" },
      "reconnect-wait-ms": { type: "string" },
      "announce-interval-ms": { type: "string" },
      id: { type: "string" },
      help: { type: "boolean", short: "h" },
    }));
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    if (modules.length !== 1) {
      throw new UsageError(`Expected one service module, got ${modules.length}`);
    }
    reconnectWaitMs = intFlag("reconnect-wait-ms", flags["reconnect-wait-ms"], 500, 10, 60_000);
    announceIntervalMs = intFlag(
      "announce-interval-ms",
      flags["announce-interval-ms"],
      1_000,
      50,
      60_000,
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  const logger = new Logger("info");
  const url = new URL(modules[0], `file://${Deno.cwd()}/`).href;
  let services: Service[];
  try {
    services = Object.values(await import(url)).filter(isService);
  } catch (error) {
    console.error(`Cannot load service module ${modules[0]}: ${(error as Error).message}`);
    return 2;
  }
  if (services.length === 0) {
    console.error(`Module ${modules[0]} exports no services (make them with defineService)`);
    return 2;
  }
  const servers = flags.nats ?? ["nats://127.0.0.1:4222"];
  const prefix = flags.prefix ?? "mmo";
  let process: ServiceProcess;
  try {
    process = await serveServices({
      services,
      servers,
      prefix,
      reconnectWaitMs,
      logger,
      announceIntervalMs,
      instanceId: flags.id,
    });
  } catch (error) {
    if (error instanceof TypeError) {
      console.error(error.message);
      return 2;
    }
    console.error(`Cannot connect to NATS at ${servers.join(", ")}: ${(error as Error).message}`);
    return 1;
  }
  logger.info("serving", {
    id: process.id,
    services: services.map((s) => s.name),
    subjects: services.map((s) => `${prefix}.svc.${s.name}.*`),
    nats: process.server,
  });
  const stop = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop.resolve);
  await stop.promise;
  await process.close();
  logger.info("stopped");
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
