/**
 * The WebSocket listener: decides which HTTP requests may upgrade (path, origin, capacity,
 * draining) and hands upgraded sockets to the transport.
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import type { Gateway } from "../core/gateway.ts";
import type { Logger } from "../core/logger.ts";
import type { ListenerEvents, RejectReason } from "../core/events.ts";
import { ResilientServer } from "./resilient_server.ts";
import { BATCH_SUBPROTOCOL } from "../core/frame_coalescer.ts";
import { WebSocketTransport } from "./transport_websocket.ts";

/** Options for {@linkcode WebSocketServer}. */
export interface WebSocketServerOptions {
  /** The `websocket` config section. */
  config: GatewayConfig["websocket"];
  /** Deno's WebSocket idle timeout in seconds (see `websocketIdleTimeoutSec`). */
  idleTimeoutSec: number;
  /** Where upgraded sockets go. */
  gateway: Gateway;
  /** Listener observers (metrics). */
  events: ListenerEvents;
  /** Logger for refusals and listener faults. */
  logger: Logger;
  /** Share the port with other gateway processes. */
  reusePort?: boolean;
}

function plain(status: number, text: string, headers: HeadersInit = {}): Response {
  return new Response(text + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** Serves WebSocket upgrades at `websocket.path`. */
export class WebSocketServer implements AsyncDisposable {
  readonly #options: WebSocketServerOptions;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #server: ResilientServer;
  #draining = false;
  #openSockets = 0;
  #whenAllClosed: PromiseWithResolvers<void> | undefined;

  /**
   * Binds the listener.
   *
   * @throws {ListenError} when the port cannot be bound.
   */
  constructor(options: WebSocketServerOptions) {
    this.#options = options;
    this.#allowedOrigins = new Set(options.config.allowed_origins);
    this.#server = new ResilientServer({
      name: "websocket",
      hostname: options.config.host,
      port: options.config.port,
      reusePort: options.reusePort,
      handler: (request, info) => this.#handle(request, info),
      logger: options.logger,
      onFailed: options.events.onListenerFailed,
      onRestarted: options.events.onListenerRestarted,
    });
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Whether the accept loop is running (false while recovering from `EMFILE`). */
  get listening(): boolean {
    return this.#server.listening;
  }

  /** Upgraded sockets whose close handshake has not finished yet. */
  get openSockets(): number {
    return this.#openSockets;
  }

  /** Resolves once every upgraded socket has closed, or when `signal` aborts. */
  socketsClosed(signal?: AbortSignal): Promise<void> {
    if (this.#openSockets === 0 || signal?.aborted) return Promise.resolve();
    this.#whenAllClosed ??= Promise.withResolvers<void>();
    const { promise, resolve } = this.#whenAllClosed;
    signal?.addEventListener("abort", () => resolve(), { once: true });
    return promise;
  }

  #socketClosed = (): void => {
    if (--this.#openSockets === 0 && this.#whenAllClosed) {
      this.#whenAllClosed.resolve();
      this.#whenAllClosed = undefined;
    }
  };

  /** Refuses new upgrades with 503 from now on; existing sessions are untouched. */
  drain(): void {
    this.#draining = true;
  }

  #reject(status: number, reason: RejectReason, message: string): Response {
    this.#options.events.onConnectionRejected(reason);
    this.#options.logger.debug("upgrade refused", { reason });
    return plain(status, message);
  }

  #handle(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    const { config, gateway } = this.#options;
    const url = new URL(request.url);
    if (url.pathname !== config.path) return plain(404, "Not Found");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return plain(426, `Upgrade Required: connect with a WebSocket client to ${config.path}`, {
        upgrade: "websocket",
        connection: "Upgrade",
      });
    }
    if (this.#draining) {
      return this.#reject(503, "draining", "Service Unavailable: the gateway is shutting down");
    }
    const origin = request.headers.get("origin");
    if (this.#allowedOrigins.size > 0 && origin !== null && !this.#allowedOrigins.has(origin)) {
      return this.#reject(403, "origin_not_allowed", "Forbidden: origin not allowed");
    }
    if (gateway.sessions.count("websocket") >= config.max_connections) {
      return this.#reject(503, "max_connections", "Service Unavailable: too many connections");
    }
    // Read before upgrading: Deno closes the request (and its remoteAddr) on upgrade.
    const remoteAddr = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    // Split as Deno does (", "), so a protocol we accept is one Deno agrees was offered.
    const batching = request.headers.get("sec-websocket-protocol")?.split(", ")
      .includes(BATCH_SUBPROTOCOL) ?? false;
    let upgrade: Deno.WebSocketUpgrade;
    try {
      upgrade = Deno.upgradeWebSocket(request, {
        idleTimeout: this.#options.idleTimeoutSec,
        protocol: batching ? BATCH_SUBPROTOCOL : undefined,
      });
    } catch (error) {
      this.#options.events.onConnectionRejected("bad_handshake");
      return plain(400, `Bad Request: ${(error as Error).message}`);
    }
    this.#openSockets++;
    WebSocketTransport.attach(upgrade.socket, gateway, remoteAddr, {
      batching,
      onSocketClosed: this.#socketClosed,
    });
    return upgrade.response;
  }

  /** Stops accepting; open sessions are closed by whoever owns the session manager. */
  close(): Promise<void> {
    return this.#server.close();
  }

  /** Stops accepting. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
