/**
 * The WebSocket transport: wraps a server-side `WebSocket` from `Deno.upgradeWebSocket` behind
 * the {@linkcode Transport} interface and feeds its frames to the {@linkcode Gateway}.
 *
 * @module
 */
import { type Disconnect, DisconnectClientClosed, DisconnectTransportError } from "./disconnect.ts";
import { flushScheduler, joinEnvelopes, type PendingOutput } from "./frame_coalescer.ts";
import type { Gateway } from "./gateway.ts";
import type { Session } from "./session.ts";
import type { Transport } from "./transport.ts";

/**
 * Deno answers and times out WebSocket pings itself and never tells JavaScript about pongs.
 * It does call this internal per-socket method on every inbound frame, pongs included, to
 * reset its idle timer; wrapping it is how a pong refreshes the session. If a Deno release
 * renames it, pongs stop counting (data frames still do) and `pongHookAvailable` says so.
 */
const FRAME_HOOK = Object.getOwnPropertySymbols(WebSocket.prototype).find(
  (symbol) => symbol.description === "[[serverHandleIdleTimeout]]",
);

/** Whether this Deno lets pongs refresh sessions (see `FRAME_HOOK`). */
export const pongHookAvailable: boolean = FRAME_HOOK !== undefined &&
  typeof (WebSocket.prototype as unknown as Record<symbol, unknown>)[FRAME_HOOK] === "function";

/**
 * A server-side WebSocket as a {@linkcode Transport}. With `batching` (the client offered the
 * batch subprotocol), envelopes written in one turn leave as one frame at its end.
 */
export class WebSocketTransport implements Transport, PendingOutput {
  /** Always `websocket`. */
  readonly kind = "websocket" as const;
  readonly #socket: WebSocket;
  readonly #batching: boolean;
  /** Envelopes waiting for the end of the turn; only while a flush is scheduled. */
  #queue: string[] | undefined;

  /** Wraps `socket`. */
  constructor(socket: WebSocket, batching = false) {
    this.#socket = socket;
    this.#batching = batching;
  }

  /** Sends (or, batching, queues) one envelope; false once the socket is closing or closed. */
  write(text: string): boolean {
    if (this.#socket.readyState !== WebSocket.OPEN) return false;
    if (!this.#batching) {
      this.#socket.send(text);
    } else if (this.#queue) {
      this.#queue.push(text);
    } else {
      this.#queue = [text];
      flushScheduler.schedule(this);
    }
    return true;
  }

  /** Sends the queued envelopes as one frame. */
  flushPending(): void {
    const queue = this.#queue;
    this.#queue = undefined;
    if (queue && this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.send(joinEnvelopes(queue));
    }
  }

  /**
   * Sends a close frame with the disconnect's code and reason, after anything still queued;
   * safe to call twice.
   */
  close(disconnect: Disconnect): void {
    this.flushPending();
    const state = this.#socket.readyState;
    if (state === WebSocket.OPEN) {
      this.#socket.close(disconnect.code, disconnect.reason);
    } else if (state === WebSocket.CONNECTING) {
      this.#socket.addEventListener(
        "open",
        () => this.#socket.close(disconnect.code, disconnect.reason),
        { once: true },
      );
    }
  }
}

/**
 * Registers an upgraded socket as a session and routes its events to the gateway. The
 * session exists from the upgrade on, so it counts against `max_connections` at once.
 */
export function attachWebSocket(
  socket: WebSocket,
  gateway: Gateway,
  remoteAddr: string,
  options: { batching?: boolean; onSocketClosed?: () => void } = {},
): Session {
  const { batching = false, onSocketClosed } = options;
  socket.binaryType = "arraybuffer";
  const session = gateway.open(new WebSocketTransport(socket, batching), remoteAddr);
  socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
    const data = event.data;
    if (typeof data === "string") gateway.receiveText(session, data);
    else gateway.receiveBinary(session, data.byteLength);
  };
  let failed = false;
  socket.onerror = () => {
    failed = true;
  };
  socket.onclose = (event: CloseEvent) => {
    const disconnect: Disconnect = failed || event.code === 1006
      ? DisconnectTransportError
      : DisconnectClientClosed;
    gateway.closed(session, disconnect);
    onSocketClosed?.();
  };
  if (pongHookAvailable) {
    const hook = FRAME_HOOK as symbol;
    const target = socket as unknown as Record<symbol, () => void>;
    const original = target[hook];
    target[hook] = function (this: unknown) {
      gateway.touch(session);
      return original.call(this);
    };
  }
  return session;
}
