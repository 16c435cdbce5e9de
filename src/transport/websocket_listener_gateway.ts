/**
 * The `gateway` WebSocket engine's listener: the gateway's own RFC 6455 server
 * (`src/transport/websocket/`) on `Deno.listen`, with the gateway's upgrade policy and limits:
 * messages refused from their frame headers past `protocol.max_message_bytes` (1009),
 * handshakes closed after `limits.handshake_timeout_ms`, the accept loop paused while only
 * `limits.fd_reserve` descriptors are left, and a connection torn down when its client stops
 * reading far past `limits.max_outbound_bytes`.
 *
 * @module
 */
import { BATCH_SUBPROTOCOL } from "../core/frame_coalescer.ts";
import { GatewayWebSocketTransport } from "./transport_websocket_gateway.ts";
import { type UpgradeDecision, type UpgradeRequest, WebSocketServer } from "./websocket/mod.ts";
import { WebSocketListenerBase, type WebSocketListenerOptions } from "./websocket_listener.ts";
import { ListenError } from "./resilient_server.ts";

/**
 * The send buffer past which a connection is torn down, as a multiple of
 * `limits.max_outbound_bytes`: the session writer closes a slow consumer at that limit (4002);
 * this is the backstop for output that does not pass through it (close frames, pongs).
 */
const TEARDOWN_FACTOR = 4;

/** Serves WebSocket upgrades at `websocket.path` on the gateway's own engine. */
export class GatewayWebSocketListener extends WebSocketListenerBase {
  readonly #server: WebSocketServer;

  /**
   * Binds the listener.
   *
   * @throws {ListenError} when the port cannot be bound.
   */
  constructor(options: WebSocketListenerOptions) {
    super(options);
    const { config, events, logger } = options;
    const ws = config.websocket;
    try {
      this.#server = new WebSocketServer({
        hostname: ws.host,
        port: ws.port,
        reusePort: options.reusePort,
        screen: (head) =>
          this.policy.screen(
            head.target,
            head.headers.get("upgrade")?.toLowerCase().split(",").some((item) =>
              item.trim() === "websocket"
            ) ?? false,
          ),
        onRefused: () => this.policy.badHandshake(),
        onHandshakeTimeout: () => this.policy.handshakeTimedOut(),
        upgrade: (request) => this.#upgrade(request),
        open: (connection) => {
          this.sockets.opened();
          return GatewayWebSocketTransport.attach(connection, options.gateway, {
            batching: connection.protocol === BATCH_SUBPROTOCOL,
            onSocketClosed: this.sockets.closed,
          });
        },
        handshakeTimeoutMs: config.limits.handshake_timeout_ms,
        fdReserve: config.limits.fd_reserve,
        descriptors: options.descriptors,
        connection: {
          maxMessageBytes: config.protocol.max_message_bytes,
          maxBufferedBytes: config.limits.max_outbound_bytes * TEARDOWN_FACTOR,
        },
        onError: (error) => logger.warn("websocket engine fault", { error }),
        onAcceptFailed: (error) => {
          logger.error("listener stopped accepting; will retry", { listener: "websocket", error });
          events.onListenerFailed("websocket", error);
        },
        onReserveReached: (reached) => {
          if (reached) {
            logger.warn("descriptor reserve reached; not accepting", {
              listener: "websocket",
              fd_reserve: config.limits.fd_reserve,
            });
          } else logger.info("descriptors freed; accepting again", { listener: "websocket" });
        },
        onAcceptResumed: () => {
          logger.info("listener restarted", { listener: "websocket" });
          events.onListenerRestarted("websocket");
        },
      });
    } catch (error) {
      throw new ListenError("websocket", ws.host, ws.port, { cause: error });
    }
  }

  #upgrade(request: UpgradeRequest): UpgradeDecision {
    const refusal = this.policy.admit(request.headers.get("origin"));
    if (refusal) return refusal;
    const batching = request.protocols.includes(BATCH_SUBPROTOCOL);
    return { accept: true, protocol: batching ? BATCH_SUBPROTOCOL : undefined };
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /**
   * Whether new connections are accepted now (false while recovering from `EMFILE` or while
   * only `limits.fd_reserve` descriptors are left).
   */
  get listening(): boolean {
    return this.#server.accepting;
  }

  /**
   * Stops accepting and ends handshakes in progress. Sessions are closed by whoever owns the
   * session manager first; connections still open are closed with 1001.
   */
  close(): Promise<void> {
    return this.#server.close();
  }
}
