/**
 * Runs routes the gateway does not serve itself on service processes over NATS. A request
 * becomes a NATS request on `P.svc.<route>`; the service's session changes come back on this
 * node's control subject before its reply, so a `chat.join` is in effect when the client sees
 * the response. The cluster registry decides first, with one map lookup: a route no one ever
 * announced is `unknown_route`, and a route with no live instance `service_unavailable`,
 * without touching NATS.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  decodeJson,
  encodeJson,
  type ServiceCall,
  type ServiceReply,
  type SessionChange,
  type Subjects,
} from "./cluster_protocol.ts";
import type { ClusterRegistry } from "./registry.ts";
import type { Hub } from "../services/hub.ts";
import type { Logger } from "../core/logger.ts";
import type { NatsLink } from "./nats_link.ts";
import { checkUserChangeable, RouteError } from "../core/service.ts";
import type { ServiceHost } from "../core/service_host.ts";
import type { Session } from "../core/session.ts";
import type { SessionManager } from "../core/session_manager.ts";

/** Options for {@linkcode NatsServiceHost}. */
export interface NatsServiceHostOptions {
  /** Serves the routes it knows in-process (echo, embedded services). */
  local: ServiceHost;
  /** Whether `local` knows a route. */
  isLocal: (route: string) => boolean;
  /** The NATS connection. */
  link: NatsLink;
  /** Which routes exist and whether an instance serves them. */
  registry: ClusterRegistry;
  /** Subject names. */
  subjects: Subjects;
  /** This node's id. */
  nodeId: string;
  /** Sessions, to apply remote changes. */
  sessions: SessionManager;
  /** Users and groups, to apply remote changes. */
  hub: Hub;
  /** How long to wait for a service. */
  timeoutMs: number;
  /** Where faults are logged. */
  logger: Logger;
}

function isNoResponders(error: unknown): boolean {
  return error instanceof Error && /no responders/i.test(error.message);
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && /timeout/i.test(`${error.name} ${error.message}`);
}

/** A {@linkcode ServiceHost} that sends unknown routes to service processes over NATS. */
export class NatsServiceHost implements ServiceHost {
  readonly #options: NatsServiceHostOptions;
  #subscription: Subscription | undefined;

  /** Creates the host; call {@linkcode subscribe} with each new connection. */
  constructor(options: NatsServiceHostOptions) {
    this.#options = options;
  }

  /** Starts applying session changes sent to this node. */
  subscribe(connection: NatsConnection): void {
    this.#subscription = connection.subscribe(this.#options.subjects.node(this.#options.nodeId), {
      callback: (error, message) => {
        if (error) this.#options.logger.warn("node subscription failed", { error });
        else this.#apply(message);
      },
    });
  }

  #apply(message: Msg): void {
    let change: SessionChange;
    try {
      change = decodeJson<SessionChange>(message.data);
    } catch (error) {
      this.#options.logger.warn("malformed session change dropped", { error });
      return;
    }
    const session = this.#options.sessions.get(change.session);
    if (!session) return; // it closed meanwhile
    try {
      switch (change.op) {
        case "join":
          this.#options.hub.join(session, change.group);
          break;
        case "leave":
          this.#options.hub.leave(session, change.group);
          break;
        case "user":
          // A remote service cannot rebind a player its token identified.
          checkUserChangeable(session.claims);
          this.#options.hub.bindUser(session, change.user);
          break;
        case "data":
          if (change.value === undefined || change.value === null) session.data?.delete(change.key);
          else (session.data ??= new Map()).set(change.key, change.value);
          break;
      }
    } catch (error) {
      this.#options.logger.warn("invalid session change dropped", { op: change.op, error });
    }
  }

  /** Runs a request locally or on a service process. */
  request(session: Session, route: string, data: unknown): unknown {
    if (this.#options.isLocal(route)) return this.#options.local.request(session, route, data);
    return this.#remote("request", session, route, data);
  }

  /** Delivers a notify locally or to a service process. */
  notify(session: Session, route: string, data: unknown): unknown {
    if (this.#options.isLocal(route)) return this.#options.local.notify(session, route, data);
    return this.#remote("notify", session, route, data);
  }

  /**
   * Decides from the registry, synchronously, whether the call goes out at all: a client
   * sending garbage routes costs a map lookup and an error reply, never a NATS request.
   */
  #remote(kind: ServiceCall["kind"], session: Session, route: string, data: unknown) {
    const state = this.#options.registry.route(route);
    if (state === undefined) {
      if (this.#options.registry.complete) {
        throw new RouteError("unknown_route", `No route "${route.slice(0, 64)}"`);
      }
      // Just (re)connected: its service may not have answered the query yet.
      throw new RouteError("service_unavailable", "Game services are starting; retry later");
    }
    if (state.live === 0) {
      throw new RouteError("service_unavailable", `No instance serves "${route}"; retry later`);
    }
    const connection = this.#options.link.connection;
    if (!connection) {
      throw new RouteError("service_unavailable", "Game services are unreachable; retry later");
    }
    return this.#call(connection, kind, session, route, data);
  }

  async #call(
    connection: NatsConnection,
    kind: ServiceCall["kind"],
    session: Session,
    route: string,
    data: unknown,
  ): Promise<unknown> {
    const call: ServiceCall = {
      kind,
      node: this.#options.nodeId,
      session: session.id,
      user: session.userId,
      claims: session.claims,
      sessionData: Object.fromEntries(session.data ?? []),
      data,
    };
    let message: Msg;
    try {
      message = await connection.request(this.#options.subjects.route(route), encodeJson(call), {
        timeout: this.#options.timeoutMs,
      });
    } catch (error) {
      if (isNoResponders(error)) {
        // The registry still lists an instance, but none is subscribed: it just went down.
        throw new RouteError("service_unavailable", `No instance serves "${route}"; retry later`);
      }
      if (isTimeout(error)) {
        throw new RouteError("timeout", `Route "${route}" did not answer in time`);
      }
      throw new RouteError("service_unavailable", "Game services are unreachable; retry later", {
        cause: error,
      });
    }
    const reply = decodeJson<ServiceReply>(message.data);
    if (!reply.ok && reply.code === "unknown_route") {
      throw new RouteError("unknown_route", `No route "${route}"`);
    }
    if (!reply.ok) {
      throw new RouteError("internal_error", "The request could not be handled", {
        cause: new Error(`service process: ${reply.message}`),
      });
    }
    return reply.data;
  }

  /** Stops applying session changes. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#subscription?.unsubscribe();
    return Promise.resolve();
  }
}
