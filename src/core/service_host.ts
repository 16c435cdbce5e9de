/**
 * Where routed messages are handled: in this process (`service_host_local.ts`) or by service
 * processes over NATS (`service_host_nats.ts`). The gateway's pipeline only sees this interface.
 *
 * @module
 */
import type { Session } from "./session.ts";

/** Runs requests and notifies for sessions. */
export interface ServiceHost extends AsyncDisposable {
  /**
   * Runs a request and returns the response data, synchronously when the handler is.
   *
   * @throws {RouteError} (or rejects with one) when it cannot be answered.
   */
  request(session: Session, route: string, data: unknown): unknown;
  /**
   * Delivers a notify; the handler's result is dropped.
   *
   * @throws {RouteError} (or rejects with one) when the route does not exist or fails.
   */
  notify(session: Session, route: string, data: unknown): unknown;
}
