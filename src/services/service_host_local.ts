/**
 * Runs services inside the gateway process (embedded mode, the default): a route is a
 * function call, a push is a local delivery through the broker.
 *
 * @module
 */
import { encodePush } from "../core/protocol.ts";
import type { Broker } from "./broker.ts";
import type { Hub } from "./hub.ts";
import type { Router } from "./router.ts";
import {
  checkUserChangeable,
  type GroupPushOptions,
  type PushOptions,
  RouteError,
  type ServiceContext,
  type SessionData,
} from "../core/service.ts";
import type { ServiceHost } from "../core/service_host.ts";
import type { Session } from "../core/session.ts";

/** A session's data, stored on the session itself so it dies with it. */
class LocalSessionData implements SessionData {
  constructor(readonly session: Session) {}
  get(key: string): unknown {
    return this.session.data?.get(key);
  }
  set(key: string, value: unknown): void {
    if (value === undefined) {
      this.session.data?.delete(key);
      return;
    }
    (this.session.data ??= new Map()).set(key, value);
  }
}

/** The handler context for an in-process call. */
class LocalContext implements ServiceContext {
  readonly #session: Session;
  readonly #hub: Hub;
  readonly #broker: Broker;
  #data: SessionData | undefined;

  constructor(session: Session, hub: Hub, broker: Broker) {
    this.#session = session;
    this.#hub = hub;
    this.#broker = broker;
  }
  /** Created on first use: most requests never read session data. */
  get session(): SessionData {
    return this.#data ??= new LocalSessionData(this.#session);
  }
  get sessionId(): string {
    return this.#session.id;
  }
  get userId(): string | undefined {
    return this.#session.userId;
  }
  get claims(): Readonly<Record<string, unknown>> | undefined {
    return this.#session.claims;
  }
  setUser(userId: string): void {
    checkUserChangeable(this.#session.claims);
    this.#hub.bindUser(this.#session, userId);
  }
  join(group: string): void {
    this.#hub.join(this.#session, group);
  }
  leave(group: string): void {
    this.#hub.leave(this.#session, group);
  }
  push(route: string, data: unknown, options?: PushOptions): void {
    this.#hub.deliverToSession(this.#session.id, encodePush(route, data, options));
  }
  pushToSession(sessionId: string, route: string, data: unknown, options?: PushOptions): void {
    this.#broker.toSession(sessionId, encodePush(route, data, options));
  }
  pushToUser(userId: string, route: string, data: unknown, options?: PushOptions): void {
    this.#broker.toUser(userId, encodePush(route, data, options));
  }
  pushToGroup(group: string, route: string, data: unknown, options?: GroupPushOptions): void {
    const except = options?.exceptSelf ? this.#session.id : undefined;
    this.#broker.toGroup(group, encodePush(route, data, options), except);
  }
  pushToAll(route: string, data: unknown, options?: PushOptions): void {
    this.#broker.toAll(encodePush(route, data, options));
  }
}

/** Options for {@linkcode LocalServiceHost}. */
export interface LocalServiceHostOptions {
  /** Routes to serve. */
  router: Router;
  /** Local users and groups. */
  hub: Hub;
  /** Where pushes go. */
  broker: Broker;
}

/** A {@linkcode ServiceHost} that calls handlers in this process. */
export class LocalServiceHost implements ServiceHost {
  readonly #options: LocalServiceHostOptions;

  /** Serves `options.router`'s routes. */
  constructor(options: LocalServiceHostOptions) {
    this.#options = options;
  }

  /** Calls the route's handler. */
  request(session: Session, route: string, data: unknown): unknown {
    const handler = this.#options.router.get(route);
    if (!handler) throw new RouteError("unknown_route", `No route "${route.slice(0, 64)}"`);
    return handler(data, new LocalContext(session, this.#options.hub, this.#options.broker));
  }

  /** Calls the route's handler and drops its result. */
  notify(session: Session, route: string, data: unknown): unknown {
    return this.request(session, route, data);
  }

  /** Nothing to release. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }
}
