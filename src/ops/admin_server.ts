/**
 * The admin listener: the admin API (`admin_api.ts`) on its own address, `admin.host` and
 * `admin.port`, never on the players' port.
 *
 * @module
 */
import type { Logger } from "../core/logger.ts";
import type { ListenerEvents } from "../core/events.ts";
import { ResilientServer } from "../transport/resilient_server.ts";
import type { AdminApi } from "./admin_api.ts";

/** Options for {@linkcode AdminServer}. */
export interface AdminServerOptions {
  /** Address to bind (`admin.host`). */
  hostname: string;
  /** Port to bind (`admin.port`); 0 picks one. */
  port: number;
  /** The API it serves. */
  api: AdminApi;
  /** Where listener faults are logged. */
  logger: Logger;
  /** Counts listener failures and restarts. */
  events?: Pick<ListenerEvents, "onListenerFailed" | "onListenerRestarted">;
}

/** Serves the admin API until closed. */
export class AdminServer implements AsyncDisposable {
  readonly #server: ResilientServer;

  /**
   * Binds the listener.
   *
   * @throws {ListenError} when the port cannot be bound.
   */
  constructor(options: AdminServerOptions) {
    const { api } = options;
    this.#server = new ResilientServer({
      name: "admin",
      hostname: options.hostname,
      port: options.port,
      handler: (request, info) =>
        api.handle(request, `${info.remoteAddr.hostname}:${info.remoteAddr.port}`),
      logger: options.logger,
      onFailed: options.events?.onListenerFailed,
      onRestarted: options.events?.onListenerRestarted,
    });
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Stops serving; safe to call twice. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /** Stops serving. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
