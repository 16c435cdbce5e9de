/**
 * The WebSocket transport of the `gateway` engine: wraps a {@linkcode WebSocketConnection}
 * (the gateway's own RFC 6455 framing, `src/transport/websocket/`) behind the
 * {@linkcode Transport} interface and feeds its messages to the {@linkcode Gateway}.
 *
 * @module
 */
import {
  type Disconnect,
  DisconnectInvalidText,
  DisconnectMessageTooBig,
  DisconnectProtocolViolation,
  DisconnectSlowConsumer,
  DisconnectTransportError,
} from "../core/disconnect.ts";
import { flushScheduler, joinEnvelopes, type PendingOutput } from "../core/frame_coalescer.ts";
import type { Gateway } from "../core/gateway.ts";
import { utf8ByteLength } from "../core/protocol.ts";
import type { Session } from "../core/session.ts";
import type { Transport } from "../core/transport.ts";
import {
  CLOSE_INTERNAL_ERROR,
  CLOSE_INVALID_DATA,
  CLOSE_MESSAGE_TOO_BIG,
  CLOSE_PROTOCOL_ERROR,
  type ConnectionEvents,
  type WebSocketConnection,
} from "./websocket/mod.ts";
import { websocketCloseReason } from "./websocket_close_reason.ts";

const OPEN = 1;

/** The disconnect for a fault the engine's parser found: too big, broken framing, bad UTF-8. */
function faultReason(code: number): Disconnect | undefined {
  switch (code) {
    case CLOSE_MESSAGE_TOO_BIG:
      return DisconnectMessageTooBig;
    case CLOSE_PROTOCOL_ERROR:
      return DisconnectProtocolViolation;
    case CLOSE_INVALID_DATA:
      return DisconnectInvalidText;
  }
  return undefined;
}

/**
 * A connection of the `gateway` engine as a {@linkcode Transport}, and the receiver of its
 * events. With `batching` (the client offered the batch subprotocol), envelopes written in one
 * turn leave as one frame at its end. One object per connection holds everything it needs, so
 * an idle session costs no closures.
 */
export class GatewayWebSocketTransport implements Transport, PendingOutput, ConnectionEvents {
  /** Always `websocket`. */
  readonly kind = "websocket" as const;
  readonly #connection: WebSocketConnection;
  readonly #gateway: Gateway;
  readonly #batching: boolean;
  readonly #onSocketClosed: (() => void) | undefined;
  /** The session; set right after construction, since the session needs the transport. */
  #session!: Session;
  /** Envelopes waiting for the end of the turn; only while a flush is scheduled. */
  #queue: string[] | undefined;
  /** UTF-16 length of the queued envelopes: their size in bytes for ASCII, cheap to keep. */
  #queuedLength = 0;
  /** Whether the gateway closed the connection (its close code is then not the client's). */
  #closedByGateway = false;

  private constructor(
    connection: WebSocketConnection,
    gateway: Gateway,
    batching: boolean,
    onSocketClosed: (() => void) | undefined,
  ) {
    this.#connection = connection;
    this.#gateway = gateway;
    this.#batching = batching;
    this.#onSocketClosed = onSocketClosed;
  }

  /**
   * Registers an upgraded connection as a session; returns the transport, which receives the
   * connection's events. The session exists from the upgrade on, so it counts against
   * `max_connections` at once.
   */
  static attach(
    connection: WebSocketConnection,
    gateway: Gateway,
    options: { batching?: boolean; onSocketClosed?: () => void } = {},
  ): GatewayWebSocketTransport {
    const transport = new GatewayWebSocketTransport(
      connection,
      gateway,
      options.batching ?? false,
      options.onSocketClosed,
    );
    const { hostname, port } = connection.remoteAddr;
    transport.#session = gateway.open(transport, `${hostname}:${port}`);
    return transport;
  }

  /** A text message arrived; its UTF-8 size comes from the frame, so it is not counted again. */
  onText(text: string, bytes: number): void {
    this.#gateway.receiveText(this.#session, text, bytes);
  }

  /** A binary message arrived. */
  onBinary(bytes: Uint8Array): void {
    this.#gateway.receiveBinary(this.#session, bytes.length);
  }

  /** A ping arrived (answered by the connection): a sign of life. */
  onPing(): void {
    this.#gateway.touch(this.#session);
  }

  /** A pong arrived: a sign of life, and a round trip when it answers our ping. */
  onPong(_payload: Uint8Array, rttMs: number | undefined): void {
    this.#gateway.touch(this.#session);
    if (rttMs !== undefined) this.#gateway.pong(this.#session, rttMs);
  }

  /** The engine refused the client's input and is closing: the session ends now. */
  onFault(code: number): void {
    this.#closedByGateway = true;
    this.#gateway.closed(this.#session, faultReason(code) ?? DisconnectProtocolViolation);
  }

  /** The connection ended. */
  onClosed(code: number, _reason: string, wasClean: boolean): void {
    this.#queue = undefined;
    if (!this.#closedByGateway) {
      const internal = !wasClean && code === CLOSE_INTERNAL_ERROR;
      this.#gateway.closed(
        this.#session,
        internal ? DisconnectTransportError : websocketCloseReason(code, false),
      );
    }
    this.#onSocketClosed?.();
  }

  /**
   * Sends (or, batching, queues) one envelope: its UTF-8 bytes, as the frame writer counted
   * them (or counted here when batching); -1 once the connection is closing.
   */
  write(text: string): number {
    if (this.#connection.readyState !== OPEN) return -1;
    if (!this.#batching) return this.#connection.send(text);
    if (this.#queue) {
      this.#queue.push(text);
    } else {
      this.#queue = [text];
      flushScheduler.schedule(this);
    }
    this.#queuedLength += text.length;
    return utf8ByteLength(text);
  }

  /**
   * Bytes written and not yet handed to the socket: what the connection holds, exactly, and
   * the envelopes waiting for the end of the turn. No runtime call.
   */
  get outboundBytes(): number {
    return this.#connection.bufferedAmount + this.#queuedLength;
  }

  /** Sends a WebSocket ping; its pong reaches `Gateway.pong` with the round trip. */
  ping(): boolean {
    return this.#connection.ping();
  }

  /** Sends the queued envelopes as one frame. */
  flushPending(): void {
    const queue = this.#queue;
    this.#queue = undefined;
    this.#queuedLength = 0;
    if (queue && this.#connection.readyState === OPEN) {
      this.#connection.send(joinEnvelopes(queue));
    }
  }

  /**
   * Sends a close frame with the disconnect's code and reason, after anything still queued;
   * the engine closes the TCP connection when the client answers or after its close timeout.
   * A slow consumer's connection is torn down at once instead: its close frame would wait
   * behind everything it does not read, and meanwhile it could go on sending. Safe to call
   * twice.
   */
  close(disconnect: Disconnect): void {
    if (this.#connection.readyState !== OPEN) return;
    this.#closedByGateway = true;
    if (disconnect.label === DisconnectSlowConsumer.label) {
      this.#queue = undefined;
      this.#queuedLength = 0;
      this.#connection.terminate();
      return;
    }
    this.flushPending();
    this.#connection.close(disconnect.code, disconnect.reason);
  }
}
