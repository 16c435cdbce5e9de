/**
 * Routes by name to handlers. Services register `service.method` routes; the gateway itself
 * registers the protocol's built-in `echo`.
 *
 * @module
 */
import type { Service, ServiceHandler } from "../core/service.ts";

/** A table of route names to handlers. */
export class Router {
  readonly #routes = new Map<string, ServiceHandler>();

  /**
   * Adds one route.
   *
   * @throws {TypeError} when the route is already registered or its name is empty.
   */
  register(route: string, handler: ServiceHandler): this {
    if (route.length === 0) throw new TypeError("Cannot register route: the name is empty");
    if (this.#routes.has(route)) {
      throw new TypeError(`Cannot register route "${route}": it is already registered`);
    }
    this.#routes.set(route, handler);
    return this;
  }

  /**
   * Adds every route of `service` as `service.method`.
   *
   * @throws {TypeError} when one of them is already registered.
   */
  addService(service: Service): this {
    for (const [method, handler] of Object.entries(service.routes)) {
      this.register(`${service.name}.${method}`, handler);
    }
    return this;
  }

  /** The handler for `route`, if any. */
  get(route: string): ServiceHandler | undefined {
    return this.#routes.get(route);
  }

  /** Every registered route name, in registration order (a gateway announces them). */
  routes(): string[] {
    return [...this.#routes.keys()];
  }
}

/** Returns `data` unchanged: the protocol's built-in `echo` route. */
export const echo: ServiceHandler = (data) => data;
