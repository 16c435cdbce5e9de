/**
 * The gateway's connection to NATS. It connects in the background and reconnects forever, so
 * a NATS outage never stops the gateway from starting or serving; everything that uses NATS
 * asks `connection` first and degrades when there is none.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../core/logger.ts";

/** Options for {@linkcode NatsLink}. */
export interface NatsLinkOptions {
  /** Server URLs. */
  servers: string[];
  /** Connection name shown by NATS monitoring. */
  name: string;
  /** Wait between attempts, in ms. */
  reconnectWaitMs: number;
  /** Where state changes are logged. */
  logger: Logger;
  /** Called with each new connection (first or after a full reconnect); set up subscriptions. */
  onConnection: (connection: NatsConnection) => void;
  /** Called when the connection comes back after an outage (its subscriptions are restored). */
  onReconnect?: (connection: NatsConnection) => void;
}

/** A NATS connection kept alive in the background. */
export class NatsLink implements AsyncDisposable {
  readonly #options: NatsLinkOptions;
  #connection: NatsConnection | undefined;
  #connected = false;
  #closed = false;
  #reconnects = 0;
  #wakeUp: (() => void) | undefined;
  #running: Promise<void> | undefined;

  /** Starts connecting. */
  constructor(options: NatsLinkOptions) {
    this.#options = options;
    this.#running = this.#connectLoop();
  }

  /** The connection when it is up, else undefined. */
  get connection(): NatsConnection | undefined {
    return this.#connected ? this.#connection : undefined;
  }

  /** Whether NATS is reachable now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Times the link came back after losing NATS. */
  get reconnects(): number {
    return this.#reconnects;
  }

  async #connectLoop(): Promise<void> {
    const { logger, servers } = this.#options;
    while (!this.#closed) {
      let connection: NatsConnection;
      try {
        connection = await connect({
          servers,
          name: this.#options.name,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.#options.reconnectWaitMs,
          reconnectJitter: 0,
        });
      } catch (error) {
        logger.warn("cannot reach NATS; will retry", { servers, error });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#options.reconnectWaitMs);
          this.#wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      if (this.#closed) {
        await connection.close();
        return;
      }
      this.#connection = connection;
      this.#connected = true;
      logger.info("connected to NATS", { server: connection.getServer() });
      this.#options.onConnection(connection);
      for await (const status of connection.status()) {
        if (status.type === "disconnect") {
          this.#connected = false;
          logger.warn("lost NATS; reconnecting", { server: status.server });
        } else if (status.type === "reconnect") {
          this.#connected = true;
          this.#reconnects++;
          logger.info("reconnected to NATS", { server: status.server });
          this.#options.onReconnect?.(connection);
        }
      }
      this.#connected = false;
      await connection.closed();
      if (!this.#closed) logger.warn("NATS connection closed; starting over");
    }
  }

  /** Drains and closes the connection; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeUp?.();
    this.#connected = false;
    await this.#connection?.drain().catch(() => this.#connection?.close());
    await this.#running;
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
