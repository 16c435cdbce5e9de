/**
 * The service API: game logic as named routes with a handler context. The same service code
 * runs inside the gateway (embedded mode) or in its own process behind NATS.
 *
 * @module
 */

/** Per-session key/value data that services share across requests (e.g. the player's room). */
export interface SessionData {
  /** Reads a value. */
  get(key: string): unknown;
  /** Stores a JSON-serialisable value; `undefined` deletes it. */
  set(key: string, value: unknown): void;
}

/** Options for every push. */
export interface PushOptions {
  /**
   * Send as a QUIC datagram where the session's transport supports them: may be lost or
   * reordered, never delays other messages. For state that the next update replaces
   * (positions); other sessions get it on their reliable path.
   */
  unreliable?: boolean;
}

/** Options for group pushes. */
export interface GroupPushOptions extends PushOptions {
  /** Skip the calling session (a chat message need not echo to its sender). */
  exceptSelf?: boolean;
}

/** What a handler knows about its caller and can do to the cluster. */
export interface ServiceContext {
  /** The calling session. */
  readonly sessionId: string;
  /** The user: the verified token's `sub` (`auth.mode: "jwt"`), or whom a service bound. */
  readonly userId: string | undefined;
  /** The verified token's claims (`auth.mode: "jwt"`); undefined without a token. */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  /** The calling session's shared data. */
  readonly session: SessionData;
  /**
   * Binds the calling session to a user id, so pushes to that user reach it.
   *
   * @throws {Error} when the session's user comes from a verified token: a service cannot
   * rebind a player.
   */
  setUser(userId: string): void;
  /** Adds the calling session to a group. */
  join(group: string): void;
  /** Removes the calling session from a group. */
  leave(group: string): void;
  /** Pushes to the calling session. */
  push(route: string, data: unknown, options?: PushOptions): void;
  /** Pushes to one session by id, on any node. */
  pushToSession(sessionId: string, route: string, data: unknown, options?: PushOptions): void;
  /** Pushes to every session of a user, on any node. */
  pushToUser(userId: string, route: string, data: unknown, options?: PushOptions): void;
  /** Pushes to every member of a group, on any node. */
  pushToGroup(group: string, route: string, data: unknown, options?: GroupPushOptions): void;
  /** Pushes to every session on every node. */
  pushToAll(route: string, data: unknown, options?: PushOptions): void;
}

/** Handles a `request` (its result is the response `data`) or a `notify` (result ignored). */
export type ServiceHandler = (data: unknown, context: ServiceContext) => unknown;

/** A named set of routes: `chat` with `join` serves `chat.join`. */
export interface Service {
  /** The route prefix. */
  readonly name: string;
  /** Handlers by method name. */
  readonly routes: Readonly<Record<string, ServiceHandler>>;
}

/** A service or method name: 1–64 letters, digits, `_` or `-`, starting with a letter. */
export const SERVICE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * Declares a service.
 *
 * @throws {TypeError} when a name is not 1–64 letters, digits, `_` or `-` starting with a letter.
 */
export function defineService(service: Service): Service {
  if (!SERVICE_NAME.test(service.name)) {
    throw new TypeError(
      `Cannot define service "${service.name}": names are 1-64 letters, digits, _ or -, starting with a letter`,
    );
  }
  for (const [method, handler] of Object.entries(service.routes)) {
    if (!SERVICE_NAME.test(method)) {
      throw new TypeError(
        `Cannot define route "${service.name}.${method}": method names are 1-64 letters, digits, _ or -, starting with a letter`,
      );
    }
    if (typeof handler !== "function") {
      throw new TypeError(
        `Cannot define route "${service.name}.${method}": handler is not a function`,
      );
    }
  }
  return Object.freeze({ name: service.name, routes: Object.freeze({ ...service.routes }) });
}

/**
 * Refuses to rebind a session whose user a verified token set (`claims` present).
 *
 * @throws {Error} when `claims` is set.
 */
export function checkUserChangeable(claims: unknown): void {
  if (claims !== undefined) {
    throw new Error(
      "Cannot set the user: the session's user comes from its verified token (auth.mode jwt)",
    );
  }
}

/** Error codes a routed request can fail with (see docs/protocol.md). */
export type RouteErrorCode = "unknown_route" | "timeout" | "service_unavailable" | "internal_error";

/**
 * A request that could not be answered. `message` is safe to show the client; the original
 * failure, which may hold internals, is kept in `cause` for the log.
 */
export class RouteError extends Error {
  /** Creates a route error with a client-safe message. */
  constructor(readonly code: RouteErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RouteError";
  }
}
