/**
 * The WebSocket transport of the `deno` engine: wraps a server-side `WebSocket` from `Deno.upgradeWebSocket` behind
 * the {@linkcode Transport} interface and feeds its frames to the {@linkcode Gateway}.
 *
 * @module
 */
import type { Disconnect } from "../core/disconnect.ts";
import { websocketCloseReason } from "./websocket_close_reason.ts";
import { flushScheduler, joinEnvelopes, type PendingOutput } from "../core/frame_coalescer.ts";
import type { Gateway } from "../core/gateway.ts";
import { utf8ByteLength } from "../core/protocol.ts";
import type { Session } from "../core/session.ts";
import type { Transport } from "../core/transport.ts";

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

/** Where a server-side socket finds the transport that wraps it (read by the frame hook). */
const OWNER = Symbol("DenoWebSocketTransport");

type HookedSocket = WebSocket & { [OWNER]?: DenoWebSocketTransport };

/**
 * Wraps Deno's frame hook once, on the prototype, so that each socket costs one property
 * rather than a closure: sockets that no transport owns (clients in this process, sockets of
 * other code) call through unchanged.
 */
function installFrameHook(hook: symbol): void {
  const prototype = WebSocket.prototype as unknown as Record<symbol, (this: HookedSocket) => void>;
  const original = prototype[hook];
  prototype[hook] = function (this: HookedSocket) {
    this[OWNER]?.frameArrived();
    return original.call(this);
  };
}

if (pongHookAvailable) installFrameHook(FRAME_HOOK!);

/**
 * A server-side WebSocket as a {@linkcode Transport}, and the listener of its events. With
 * `batching` (the client offered the batch subprotocol), envelopes written in one turn leave
 * as one frame at its end. One object per connection holds everything the connection needs,
 * so an idle session costs no closures.
 */
export class DenoWebSocketTransport implements Transport, PendingOutput, EventListenerObject {
  /** Always `websocket`. */
  readonly kind = "websocket" as const;
  readonly #socket: HookedSocket;
  readonly #gateway: Gateway;
  readonly #batching: boolean;
  readonly #onSocketClosed: (() => void) | undefined;
  /** The session; set right after construction, since the session needs the transport. */
  #session!: Session;
  /** Envelopes waiting for the end of the turn; only while a flush is scheduled. */
  #queue: string[] | undefined;
  /** Whether the socket reported an error (its close then counts as a transport error). */
  #failed = false;

  private constructor(
    socket: WebSocket,
    gateway: Gateway,
    batching: boolean,
    onSocketClosed: (() => void) | undefined,
  ) {
    this.#socket = socket;
    this.#gateway = gateway;
    this.#batching = batching;
    this.#onSocketClosed = onSocketClosed;
  }

  /**
   * Registers an upgraded socket as a session and routes its events to the gateway. The
   * session exists from the upgrade on, so it counts against `max_connections` at once.
   */
  static attach(
    socket: WebSocket,
    gateway: Gateway,
    remoteAddr: string,
    options: { batching?: boolean; onSocketClosed?: () => void } = {},
  ): Session {
    const transport = new DenoWebSocketTransport(
      socket,
      gateway,
      options.batching ?? false,
      options.onSocketClosed,
    );
    transport.#session = gateway.open(transport, remoteAddr);
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", transport);
    socket.addEventListener("error", transport);
    socket.addEventListener("close", transport);
    if (pongHookAvailable) transport.#socket[OWNER] = transport;
    return transport.#session;
  }

  /** Any inbound frame, pongs included, arrived (called from Deno's frame hook). */
  frameArrived(): void {
    this.#gateway.touch(this.#session);
  }

  /** Dispatches the socket's events. */
  handleEvent(event: Event): void {
    switch (event.type) {
      case "message": {
        const data = (event as MessageEvent<string | ArrayBuffer>).data;
        if (typeof data === "string") this.#gateway.receiveText(this.#session, data);
        else this.#gateway.receiveBinary(this.#session, data.byteLength);
        return;
      }
      case "error":
        this.#failed = true;
        return;
      case "close": {
        this.#gateway.closed(
          this.#session,
          websocketCloseReason((event as CloseEvent).code, this.#failed),
        );
        this.#socket[OWNER] = undefined;
        this.#onSocketClosed?.();
      }
    }
  }

  /**
   * Sends (or, batching, queues) one envelope: its UTF-8 bytes (counted here: Deno's socket
   * does not say), or -1 once the socket is closing or closed.
   */
  write(text: string): number {
    if (this.#socket.readyState !== WebSocket.OPEN) return -1;
    if (!this.#batching) {
      this.#socket.send(text);
    } else if (this.#queue) {
      this.#queue.push(text);
    } else {
      this.#queue = [text];
      flushScheduler.schedule(this);
    }
    return utf8ByteLength(text);
  }

  /**
   * Bytes written and not yet sent: the envelopes waiting for the end of the turn, and what
   * Deno's socket holds (`bufferedAmount`). Read by operators, not on the message path.
   */
  get outboundBytes(): number {
    let queued = 0;
    for (const text of this.#queue ?? []) queued += utf8ByteLength(text);
    return this.#socket.bufferedAmount + queued;
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
