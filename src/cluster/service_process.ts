/**
 * A service process: runs game services against NATS, where every gateway node's requests for
 * `P.svc.<name>.*` reach them through a queue group, so any number of instances share the load.
 * It announces its services and routes on `P.reg.announce` (see `announcer.ts`), which is how
 * gateways learn that the routes exist and that an instance serves them.
 * `deno task service <module>` runs one from the command line; {@linkcode serveServices} starts
 * one from code.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import { headers } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { Announcer } from "./announcer.ts";
import {
  type Announcement,
  decodeJson,
  encodeJson,
  INSTANCE_ID,
  PushHeader,
  PushSequencer,
  type PushTarget,
  REGISTRY_VERSION,
  type ServiceCall,
  type ServiceReply,
  type SessionChange,
  Subjects,
} from "./cluster_protocol.ts";
import { Logger } from "../core/logger.ts";
import { encodePush } from "../core/protocol.ts";
import {
  checkUserChangeable,
  type GroupPushOptions,
  type PushOptions,
  type Service,
  SERVICE_NAME,
  type ServiceContext,
  type SessionData,
} from "../core/service.ts";

const encoder = new TextEncoder();

/** The handler context of a call that arrived over NATS. */
class RemoteContext implements ServiceContext {
  readonly session: SessionData;
  #userId: string | undefined;
  readonly #call: ServiceCall;
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;
  readonly #origin: PushSequencer;

  constructor(call: ServiceCall, nc: NatsConnection, subjects: Subjects, origin: PushSequencer) {
    this.#call = call;
    this.#nc = nc;
    this.#subjects = subjects;
    this.#origin = origin;
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
  get claims(): Readonly<Record<string, unknown>> | undefined {
    return this.#call.claims;
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
    h.set(PushHeader.origin, this.#origin.next());
    this.#nc.publish(this.#subjects.push, encoder.encode(push.text), { headers: h });
  }
  setUser(userId: string): void {
    checkUserChangeable(this.#call.claims);
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
interface ServeOverNatsOptions {
  /** The services to run. */
  services: Service[];
  /** Subject names. */
  subjects: Subjects;
  /** Where handler failures are logged. */
  logger: Logger;
}

/** Subscribes `services` on `nc`; returns the subscriptions. */
function serveOverNats(nc: NatsConnection, options: ServeOverNatsOptions): Subscription[] {
  const { subjects, logger } = options;
  const origin = new PushSequencer();
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
        const data = await handler(call.data, new RemoteContext(call, nc, subjects, origin));
        reply = { ok: true, data: call.kind === "request" ? data : null };
      } catch (error) {
        logger.error("route handler failed", { route, error });
        reply = { ok: false, code: "internal_error", message: String(error) };
      }
    }
    message.respond(encodeJson(reply));
  }
}

/** Options for {@linkcode serveServices}. */
export interface ServeServicesOptions {
  /** The services to run. */
  services: Service[];
  /** NATS server URLs; default `nats://127.0.0.1:4222`. */
  servers?: string[];
  /** Subject prefix, as the gateways' `cluster.nats.subject_prefix`; default `mmo`. */
  prefix?: string;
  /** Wait between reconnect attempts while NATS is down, ms; default 500. */
  reconnectWaitMs?: number;
  /** Where handler failures are logged; default JSON lines on stderr at `info`. */
  logger?: Logger;
  /**
   * How often to announce the services to the gateways, ms; default 1000. Must be at most half
   * of the gateways' `cluster.registry.instance_ttl_ms`, or they drop this process between
   * announcements.
   */
  announceIntervalMs?: number;
  /** This process's id in the cluster (1–64 letters, digits, `_` or `-`); default random. */
  instanceId?: string;
}

/** Services being served over NATS. Dispose it (or call `close`) to stop. */
export class ServiceProcess implements AsyncDisposable {
  readonly #nc: NatsConnection;
  readonly #subscriptions: Subscription[];
  readonly #announcer: Announcer;
  readonly #watching: Promise<void>;
  readonly #id: string;
  #closed: Promise<void> | undefined;

  private constructor(
    nc: NatsConnection,
    subscriptions: Subscription[],
    announcer: Announcer,
    id: string,
  ) {
    this.#nc = nc;
    this.#subscriptions = subscriptions;
    this.#announcer = announcer;
    this.#id = id;
    this.#watching = this.#watch();
  }

  /**
   * Connects to NATS and starts serving; the same as {@linkcode serveServices}.
   *
   * @throws {TypeError} when `instanceId`, `announceIntervalMs` or a service or method name is
   * invalid (gateways would refuse the announcement).
   */
  static async start(options: ServeServicesOptions): Promise<ServiceProcess> {
    const { services } = options;
    const id = options.instanceId ?? crypto.randomUUID();
    if (!INSTANCE_ID.test(id)) {
      throw new TypeError(
        `Cannot serve services: instance id "${id}" is not 1-64 letters, digits, _ or -`,
      );
    }
    for (const service of services) {
      for (const name of [service.name, ...Object.keys(service.routes)]) {
        if (!SERVICE_NAME.test(name)) {
          throw new TypeError(
            `Cannot serve service "${service.name}": "${name}" is not 1-64 letters, digits, _ or -, starting with a letter`,
          );
        }
      }
    }
    const intervalMs = options.announceIntervalMs ?? 1_000;
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 10 || intervalMs > 3_600_000) {
      throw new TypeError(
        `Cannot serve services: announce interval ${intervalMs} ms is not an integer from 10 to 3600000`,
      );
    }
    const logger = options.logger ?? new Logger("info");
    const subjects = new Subjects(options.prefix ?? "mmo");
    const nc = await connect({
      servers: options.servers ?? ["nats://127.0.0.1:4222"],
      name: `service:${services.map((s) => s.name).join(",")}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: options.reconnectWaitMs ?? 500,
    });
    const subscriptions = serveOverNats(nc, { services, subjects, logger });
    const started = Date.now();
    const routes = Object.fromEntries(
      services.map((service) => [service.name, Object.keys(service.routes)]),
    );
    const announcement = (): Announcement => ({
      v: REGISTRY_VERSION,
      op: "announce",
      id,
      kind: "service",
      started,
      interval_ms: intervalMs,
      services: routes,
    });
    const announcer = new Announcer({
      subjects,
      intervalMs,
      announcement,
      connection: () => nc.isClosed() ? undefined : nc,
      logger,
    });
    announcer.subscribe(nc);
    return new ServiceProcess(nc, subscriptions, announcer, id);
  }

  /** Announces again as soon as NATS comes back, rather than at the next interval. */
  async #watch(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === "reconnect") this.#announcer.announce();
    }
  }

  /** This process's id in the cluster, as gateways list it. */
  get id(): string {
    return this.#id;
  }

  /** The NATS server this process is connected to, `host:port`. */
  get server(): string {
    return this.#nc.getServer();
  }

  /**
   * Says goodbye (gateways turn its routes unavailable at once), stops taking calls, lets
   * handlers in flight answer, and disconnects; safe twice.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#announcer.close();
      for (const subscription of this.#subscriptions) subscription.unsubscribe();
      // Draining needs NATS; while it is down there is nothing in flight to wait for.
      await this.#nc.drain().catch(() => this.#nc.close());
      await this.#watching;
    })();
    return this.#closed;
  }

  /** Closes the process. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Connects to NATS and serves `options.services` until the returned process is closed.
 *
 * @throws {TypeError} when an option or a service name is invalid.
 * @throws {Error} when NATS cannot be reached.
 */
export function serveServices(options: ServeServicesOptions): Promise<ServiceProcess> {
  return ServiceProcess.start(options);
}
