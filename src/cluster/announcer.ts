/**
 * Announces this process (a gateway node or a service process) on `P.reg.announce`: at start,
 * every announce interval, after NATS comes back, and in answer to a gateway's query on
 * `P.reg.query`; and says goodbye when it closes, so gateways drop its routes at once rather
 * than after the TTL.
 *
 * @module
 */
import type { NatsConnection, Subscription } from "@nats-io/nats-core";
import {
  type Announcement,
  encodeJson,
  REGISTRY_VERSION,
  type Subjects,
  type Withdrawal,
} from "./cluster_protocol.ts";
import type { Logger } from "../core/logger.ts";

/** Options for {@linkcode Announcer}. */
export interface AnnouncerOptions {
  /** Subject names. */
  subjects: Subjects;
  /** How often to announce, ms. */
  intervalMs: number;
  /** This instance's announcement as of now (session counts change). */
  announcement: () => Announcement;
  /** The NATS connection while it is up, else undefined. */
  connection: () => NatsConnection | undefined;
  /** Where publish failures are logged. */
  logger: Logger;
}

/** Announces one instance until closed. */
export class Announcer implements AsyncDisposable {
  readonly #options: AnnouncerOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  #query: Subscription | undefined;
  #closed = false;

  /** Starts announcing every interval (while there is a connection). */
  constructor(options: AnnouncerOptions) {
    this.#options = options;
    this.#timer = setInterval(() => this.announce(), options.intervalMs);
  }

  /** Answers gateways' queries on `connection` and announces at once. */
  subscribe(connection: NatsConnection): void {
    this.#query?.unsubscribe();
    this.#query = connection.subscribe(this.#options.subjects.query, {
      callback: (error, message) => {
        if (error) this.#options.logger.warn("registry query subscription failed", { error });
        else if (message.reply) {
          this.#send(() => message.respond(encodeJson(this.#options.announcement())));
        }
      },
    });
    this.announce();
  }

  /** Announces now, if NATS is up. */
  announce(): void {
    if (this.#closed) return;
    const connection = this.#options.connection();
    if (!connection) return;
    this.#send(() =>
      connection.publish(this.#options.subjects.announce, encodeJson(this.#options.announcement()))
    );
  }

  #send(publish: () => void): void {
    try {
      publish();
    } catch (error) {
      // Closing or draining: the next announcement, or the TTL, sets things right.
      this.#options.logger.debug("announcement not sent", { error });
    }
  }

  /** Stops announcing and says goodbye (the caller then drains the connection); safe twice. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#timer);
    this.#query?.unsubscribe();
    const connection = this.#options.connection();
    if (connection) {
      const bye: Withdrawal = {
        v: REGISTRY_VERSION,
        op: "bye",
        id: this.#options.announcement().id,
      };
      this.#send(() => connection.publish(this.#options.subjects.announce, encodeJson(bye)));
    }
    return Promise.resolve();
  }

  /** Closes the announcer. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
