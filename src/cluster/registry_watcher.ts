/**
 * Keeps a gateway's {@linkcode ClusterRegistry} current from NATS: it reads every
 * announcement and goodbye on `P.reg.announce`, asks every instance to announce at once when
 * NATS (re)connects (`P.reg.query`, answers to this gateway's own inbox), and every announce
 * interval refreshes the gateway's own entry and drops instances silent past the TTL.
 *
 * @module
 */
import { createInbox, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import type { Announcement, Subjects } from "./cluster_protocol.ts";
import type { ClusterRegistry, ReceiveResult } from "./registry.ts";
import type { Logger } from "../core/logger.ts";

/** Refused announcements are logged at most once per this many ms, with a count. */
const REJECT_LOG_INTERVAL_MS = 10_000;

/** Options for {@linkcode RegistryWatcher}. */
export interface RegistryWatcherOptions {
  /** The table to keep. */
  registry: ClusterRegistry;
  /** Subject names. */
  subjects: Subjects;
  /** How often to sweep and refresh the own entry; also the listening period after a
   * (re)connect. The announce interval. */
  intervalMs: number;
  /** The TTL, to warn about instances that announce too rarely for it. */
  instanceTtlMs: number;
  /** This gateway's announcement as of now. */
  self: () => Announcement;
  /** Where instances coming and going, and refused announcements, are logged. */
  logger: Logger;
}

/** Feeds a registry from NATS until closed. */
export class RegistryWatcher implements AsyncDisposable {
  readonly #options: RegistryWatcherOptions;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #inbox = createInbox();
  #subscriptions: Subscription[] = [];
  #lastRejectLog = -Infinity;
  #suppressed = 0;

  /** Enters this gateway in the table and starts the sweeps. */
  constructor(options: RegistryWatcherOptions) {
    this.#options = options;
    const { registry, logger, instanceTtlMs } = options;
    registry.applySelf(options.self());
    registry.observe({
      onInstanceUp: (instance) => {
        if (instance.self) return;
        logger.info("cluster instance up", {
          instance: instance.id,
          kind: instance.kind,
          services: Object.keys(instance.services),
        });
        if (instance.interval_ms * 2 > instanceTtlMs) {
          logger.warn("instance announces too rarely for cluster.registry.instance_ttl_ms", {
            instance: instance.id,
            interval_ms: instance.interval_ms,
            instance_ttl_ms: instanceTtlMs,
          });
        }
      },
      onInstanceDown: (instance, reason) => {
        logger.info("cluster instance down", {
          instance: instance.id,
          kind: instance.kind,
          reason,
        });
      },
    });
    this.#timer = setInterval(() => this.#tick(), options.intervalMs);
  }

  #tick(): void {
    const { registry, self, logger } = this.#options;
    this.#log(registry.applySelf(self()));
    const wasComplete = registry.complete;
    registry.sweep();
    if (registry.complete && !wasComplete) {
      logger.info("cluster registry complete", {
        instances: registry.instanceCounts(),
        routes: registry.routeCount,
      });
    }
  }

  /** Listens on a new connection and asks every instance to announce. */
  subscribe(connection: NatsConnection): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    const receive = (error: Error | null, data: Uint8Array) => {
      if (error) this.#options.logger.warn("registry subscription failed", { error });
      else this.#log(this.#options.registry.receive(data));
    };
    this.#subscriptions = [
      connection.subscribe(this.#options.subjects.announce, {
        callback: (error, message) => receive(error, message?.data),
      }),
      connection.subscribe(this.#inbox, {
        callback: (error, message) => receive(error, message?.data),
      }),
    ];
    this.resync(connection);
  }

  /**
   * NATS came back: announcements were missed meanwhile, so the table is incomplete for one
   * interval, and every instance is asked to announce now.
   */
  resync(connection: NatsConnection): void {
    this.#options.registry.beginSync(this.#options.intervalMs);
    try {
      connection.publish(this.#options.subjects.query, undefined, { reply: this.#inbox });
    } catch (error) {
      this.#options.logger.debug("registry query not sent", { error });
    }
  }

  #log(result: ReceiveResult): void {
    if (result.ok) return;
    const now = performance.now();
    if (now - this.#lastRejectLog < REJECT_LOG_INTERVAL_MS) {
      this.#suppressed++;
      return;
    }
    this.#options.logger.warn("registry announcement refused", {
      reason: result.reason,
      detail: result.detail,
      refused_since_last_line: this.#suppressed,
    });
    this.#lastRejectLog = now;
    this.#suppressed = 0;
  }

  /** Stops listening and sweeping; safe twice. */
  [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
    return Promise.resolve();
  }
}
