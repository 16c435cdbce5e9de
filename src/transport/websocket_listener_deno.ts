/**
 * The `deno` WebSocket engine's listener: `Deno.serve` and `Deno.upgradeWebSocket`. Deno
 * reassembles each message whole (up to 64 MiB a frame, unbounded across fragments) before the
 * gateway sees it, and answers and times out pings itself (docs/protocol.md, Limits).
 *
 * @module
 */
import { websocketIdleTimeoutSec } from "../config/config.ts";
import { ResilientServer } from "./resilient_server.ts";
import { BATCH_SUBPROTOCOL } from "../core/frame_coalescer.ts";
import { DenoWebSocketTransport } from "./transport_websocket_deno.ts";
import { WebSocketListenerBase, type WebSocketListenerOptions } from "./websocket_listener.ts";
import type { UpgradeRefusal } from "./websocket_upgrade_policy.ts";

function plain(refusal: UpgradeRefusal): Response {
  return new Response(refusal.body + "\n", {
    status: refusal.status,
    headers: { "content-type": "text/plain; charset=utf-8", ...refusal.headers },
  });
}

/** Serves WebSocket upgrades at `websocket.path` through `Deno.upgradeWebSocket`. */
export class DenoWebSocketListener extends WebSocketListenerBase {
  readonly #options: WebSocketListenerOptions;
  readonly #server: ResilientServer;

  /**
   * Binds the listener.
   *
   * @throws {ListenError} when the port cannot be bound.
   */
  constructor(options: WebSocketListenerOptions) {
    super(options);
    this.#options = options;
    const config = options.config.websocket;
    this.#server = new ResilientServer({
      name: "websocket",
      hostname: config.host,
      port: config.port,
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

  #handle(request: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>): Response {
    const { gateway, config } = this.#options;
    const url = new URL(request.url);
    const refusal = this.policy.screen(
      url.pathname,
      request.headers.get("upgrade")?.toLowerCase() === "websocket",
    ) ?? this.policy.admit(request.headers.get("origin") ?? undefined);
    if (refusal) return plain(refusal);
    // Read before upgrading: Deno closes the request (and its remoteAddr) on upgrade.
    const remoteAddr = `${info.remoteAddr.hostname}:${info.remoteAddr.port}`;
    // Split as Deno does (", "), so a protocol we accept is one Deno agrees was offered.
    const batching = request.headers.get("sec-websocket-protocol")?.split(", ")
      .includes(BATCH_SUBPROTOCOL) ?? false;
    let upgrade: Deno.WebSocketUpgrade;
    try {
      upgrade = Deno.upgradeWebSocket(request, {
        idleTimeout: websocketIdleTimeoutSec(config.session),
        protocol: batching ? BATCH_SUBPROTOCOL : undefined,
      });
    } catch (error) {
      this.policy.badHandshake();
      return plain({ status: 400, body: `Bad Request: ${(error as Error).message}` });
    }
    this.sockets.opened();
    DenoWebSocketTransport.attach(upgrade.socket, gateway, remoteAddr, {
      batching,
      onSocketClosed: this.sockets.closed,
    });
    return upgrade.response;
  }

  /** Stops accepting; open sessions are closed by whoever owns the session manager. */
  close(): Promise<void> {
    return this.#server.close();
  }
}
