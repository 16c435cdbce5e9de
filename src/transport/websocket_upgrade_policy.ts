/**
 * Which HTTP requests may become WebSocket sessions, decided the same way on every WebSocket
 * engine: 404 off `websocket.path`, 426 for a request that is no upgrade, 503 while draining,
 * 403 for a browser Origin not allowed, 503 at `websocket.max_connections`.
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import type { ListenerEvents, RejectReason } from "../core/events.ts";
import type { Logger } from "../core/logger.ts";
import type { SessionManager } from "../core/session_manager.ts";

/** A refused request: the HTTP status, a plain-text body and extra headers. */
export interface UpgradeRefusal {
  /** HTTP status, 400–599. */
  readonly status: number;
  /** Plain text for the client. */
  readonly body: string;
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Options for {@linkcode WebSocketUpgradePolicy}. */
export interface WebSocketUpgradePolicyOptions {
  /** The `websocket` config section. */
  config: GatewayConfig["websocket"];
  /** The sessions counted against `max_connections`. */
  sessions: Pick<SessionManager, "count">;
  /** Told about each refusal that counts (metrics). */
  events: Pick<ListenerEvents, "onConnectionRejected">;
  /** Logs refusals at debug level. */
  logger: Logger;
}

/** Decides upgrades; see the module doc. */
export class WebSocketUpgradePolicy {
  readonly #options: WebSocketUpgradePolicyOptions;
  readonly #allowedOrigins: ReadonlySet<string>;
  #draining = false;

  /** Creates the policy for one listener. */
  constructor(options: WebSocketUpgradePolicyOptions) {
    this.#options = options;
    this.#allowedOrigins = new Set(options.config.allowed_origins);
  }

  /** Refuses every upgrade with 503 from now on. */
  drain(): void {
    this.#draining = true;
  }

  /**
   * The checks that need no WebSocket handshake: the path (`target` may carry a query) and
   * whether the request asks to upgrade at all. Neither refusal counts as a rejected
   * connection. Undefined when the request may go on to the handshake checks.
   */
  screen(target: string, upgrade: boolean): UpgradeRefusal | undefined {
    const path = this.#options.config.path;
    const query = target.indexOf("?");
    if ((query < 0 ? target : target.slice(0, query)) !== path) {
      return { status: 404, body: "Not Found" };
    }
    if (!upgrade) {
      return {
        status: 426,
        body: `Upgrade Required: connect with a WebSocket client to ${path}`,
        headers: { upgrade: "websocket", connection: "Upgrade" },
      };
    }
    return undefined;
  }

  /**
   * The checks of an upgrade request at the path: draining, Origin, capacity. Undefined when
   * it may upgrade; a refusal is counted under its reason.
   */
  admit(origin: string | undefined): UpgradeRefusal | undefined {
    if (this.#draining) {
      return this.#reject(503, "draining", "Service Unavailable: the gateway is shutting down");
    }
    if (
      this.#allowedOrigins.size > 0 && origin !== undefined && !this.#allowedOrigins.has(origin)
    ) {
      return this.#reject(403, "origin_not_allowed", "Forbidden: origin not allowed");
    }
    if (this.#options.sessions.count("websocket") >= this.#options.config.max_connections) {
      return this.#reject(503, "max_connections", "Service Unavailable: too many connections");
    }
    return undefined;
  }

  /** Counts an upgrade the engine found malformed (400). */
  badHandshake(): void {
    this.#options.events.onConnectionRejected("bad_handshake");
  }

  /** Counts a connection closed because its upgrade did not finish in time. */
  handshakeTimedOut(): void {
    this.#options.events.onConnectionRejected("handshake_timeout");
  }

  #reject(status: number, reason: RejectReason, body: string): UpgradeRefusal {
    this.#options.events.onConnectionRejected(reason);
    this.#options.logger.debug("upgrade refused", { reason });
    return { status, body };
  }
}
