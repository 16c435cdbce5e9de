/**
 * Runs services as their own process against NATS: `deno task service <module>`. The module's
 * exported services (anything made with `defineService`) answer on `P.svc.<name>.*` in a queue
 * group, so any number of instances share the load.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { intFlag, parseCliArgsWithPositionals, UsageError } from "./cli_args.ts";
import {
  decodeJson,
  encodeJson,
  PushHeader,
  type PushTarget,
  type ServiceCall,
  type ServiceReply,
  type SessionChange,
  Subjects,
} from "./cluster_protocol.ts";
import { Logger } from "./logger.ts";
import { encodePush } from "./service_host_local.ts";
import type {
  GroupPushOptions,
  PushOptions,
  Service,
  ServiceContext,
  SessionData,
} from "./service.ts";

const encoder = new TextEncoder();

/** The handler context of a call that arrived over NATS. */
class RemoteContext implements ServiceContext {
  readonly session: SessionData;
  #userId: string | undefined;
  readonly #call: ServiceCall;
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;

  constructor(call: ServiceCall, nc: NatsConnection, subjects: Subjects) {
    this.#call = call;
    this.#nc = nc;
    this.#subjects = subjects;
    this.#userId = call.user;
    const data = { ...call.sessionData };
    this.session = {
      get: (key) => data[key],
      set: (key, value) => {
        if (value === undefined) delete data[key];
        else data[key] = value;
        this.#change({ op: "data", session: call.session, key, value: value ?? null });
      },
    };
  }

  get sessionId(): string {
    return this.#call.session;
  }
  get userId(): string | undefined {
    return this.#userId;
  }
  #change(change: SessionChange): void {
    this.#nc.publish(this.#subjects.node(this.#call.node), encodeJson(change));
  }
  #push(
    target: PushTarget,
    key: string,
    route: string,
    data: unknown,
    options: PushOptions | undefined,
    except?: string,
  ): void {
    const h = headers();
    h.set(PushHeader.target, target);
    h.set(PushHeader.key, key);
    if (except) h.set(PushHeader.except, except);
    const push = encodePush(route, data, options);
    if (push.unreliable) h.set(PushHeader.unreliable, "1");
    this.#nc.publish(this.#subjects.push, encoder.encode(push.text), { headers: h });
  }
  setUser(userId: string): void {
    this.#userId = userId;
    this.#change({ op: "user", session: this.#call.session, user: userId });
  }
  join(group: string): void {
    this.#change({ op: "join", session: this.#call.session, group });
  }
  leave(group: string): void {
    this.#change({ op: "leave", session: this.#call.session, group });
  }
  push(route: string, data: unknown, options?: PushOptions): void {
    this.#push("session", this.#call.session, route, data, options);
  }
  pushToSession(sessionId: string, route: string, data: unknown, options?: PushOptions): void {
    this.#push("session", sessionId, route, data, options);
  }
  pushToUser(userId: string, route: string, data: unknown, options?: PushOptions): void {
    this.#push("user", userId, route, data, options);
  }
  pushToGroup(group: string, route: string, data: unknown, options?: GroupPushOptions): void {
    const except = options?.exceptSelf ? this.#call.session : undefined;
    this.#push("group", group, route, data, options, except);
  }
  pushToAll(route: string, data: unknown, options?: PushOptions): void {
    this.#push("all", "", route, data, options);
  }
}

/** Options for {@linkcode serveOverNats}. */
export interface ServeOverNatsOptions {
  /** The services to run. */
  services: Service[];
  /** Subject names. */
  subjects: Subjects;
  /** Where handler failures are logged. */
  logger: Logger;
}

/** Subscribes `services` on `nc`; returns the subscriptions (unsubscribe or drain to stop). */
export function serveOverNats(nc: NatsConnection, options: ServeOverNatsOptions): Subscription[] {
  const { subjects, logger } = options;
  return options.services.map((service) =>
    nc.subscribe(subjects.service(service.name), {
      queue: subjects.queue(service.name),
      callback: (error, message) => {
        if (error) logger.warn("service subscription failed", { service: service.name, error });
        else void handle(service, message);
      },
    })
  );

  async function handle(service: Service, message: Msg): Promise<void> {
    const method = message.subject.slice(message.subject.lastIndexOf(".") + 1);
    const route = `${service.name}.${method}`;
    let reply: ServiceReply;
    const handler = Object.hasOwn(service.routes, method) ? service.routes[method] : undefined;
    if (!handler) {
      reply = { ok: false, code: "unknown_route", message: `No route "${route}"` };
    } else {
      try {
        const call = decodeJson<ServiceCall>(message.data);
        const data = await handler(call.data, new RemoteContext(call, nc, subjects));
        reply = { ok: true, data: call.kind === "request" ? data : null };
      } catch (error) {
        logger.error("route handler failed", { route, error });
        reply = { ok: false, code: "internal_error", message: String(error) };
      }
    }
    message.respond(encodeJson(reply));
  }
}

const USAGE = `Usage: deno task service <module> [--nats <url>] [--prefix <p>]

Runs the services a module exports (values made with defineService) against NATS.

Options:
  --nats <url>      NATS server (default: nats://127.0.0.1:4222; repeat for several)
  --prefix <p>      subject prefix, as cluster.nats.subject_prefix (default: mmo)
  --reconnect-wait-ms <n>  wait between reconnects (default: 500)
  -h, --help        show this help

Example: deno task service src/services/chat.ts --nats nats://127.0.0.1:4222`;

function isService(value: unknown): value is Service {
  return typeof value === "object" && value !== null &&
    typeof (value as Service).name === "string" &&
    typeof (value as Service).routes === "object";
}

/** Loads the module's services and serves them until SIGINT/SIGTERM; returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let flags, modules, reconnectWaitMs;
  try {
    ({ values: flags, positionals: modules } = parseCliArgsWithPositionals(args, {
      nats: { type: "string", multiple: true },
      prefix: { type: "string" },
      "reconnect-wait-ms": { type: "string" },
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
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: `service:${services.map((s) => s.name).join(",")}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: reconnectWaitMs,
    });
  } catch (error) {
    console.error(`Cannot connect to NATS at ${servers.join(", ")}: ${(error as Error).message}`);
    return 1;
  }
  const subjects = new Subjects(flags.prefix ?? "mmo");
  serveOverNats(nc, { services, subjects, logger });
  logger.info("serving", {
    services: services.map((s) => s.name),
    subjects: services.map((s) => subjects.service(s.name)),
    nats: nc.getServer(),
  });
  const stop = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, stop.resolve);
  await stop.promise;
  await nc.drain();
  logger.info("stopped");
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
