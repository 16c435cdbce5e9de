/**
 * Routes `request` envelopes to handlers by name. Game services plug in here; the gateway
 * ships `echo`.
 *
 * @module
 */

/** What a route handler knows about the caller. */
export interface RouteContext {
  /** The calling session's id. */
  readonly sessionId: string;
}

/** Handles one request's `data` and returns the response `data` (or a promise of it). */
export type RouteHandler = (data: unknown, context: RouteContext) => unknown;

/** A table of route names to handlers. */
export class Router {
  readonly #routes = new Map<string, RouteHandler>();

  /**
   * Adds a route.
   *
   * @throws {TypeError} when the route is already registered or its name is empty.
   */
  register(route: string, handler: RouteHandler): this {
    if (route.length === 0) throw new TypeError("Cannot register route: the name is empty");
    if (this.#routes.has(route)) {
      throw new TypeError(`Cannot register route "${route}": it is already registered`);
    }
    this.#routes.set(route, handler);
    return this;
  }

  /** The handler for `route`, if any. */
  get(route: string): RouteHandler | undefined {
    return this.#routes.get(route);
  }

  /** Registered route names. */
  routes(): string[] {
    return [...this.#routes.keys()];
  }
}

/** A router with the built-in `echo` route, which returns the request's data unchanged. */
export function createDefaultRouter(): Router {
  return new Router().register("echo", (data) => data);
}
