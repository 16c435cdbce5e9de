/**
 * The {@linkcode ClientTransport} over the Web-standard `WebSocket` (browsers, Deno, Node 22+).
 *
 * @module
 */
import {
  type ClientTransport,
  type OpenTransportOptions,
  type TransportClose,
  waitReleased,
} from "./client_transport.ts";

/** The subprotocol that lets the gateway coalesce many envelopes into one frame. */
export const BATCH_SUBPROTOCOL = "mmo.batch.v1";

/** Options for {@linkcode openWebSocket}. */
export interface OpenWebSocketOptions extends OpenTransportOptions {
  /** Offer {@linkcode BATCH_SUBPROTOCOL}. */
  batching: boolean;
}

class WebSocketTransport implements ClientTransport {
  readonly kind = "websocket" as const;
  onMessage: ((text: string) => void) | undefined;
  readonly closed: Promise<TransportClose>;
  readonly #socket: WebSocket;
  readonly #released: Promise<void>;
  #settle!: (close: TransportClose) => void;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => this.#settle = resolve);
    this.#released = new Promise((resolve) => {
      socket.addEventListener("close", (event) => {
        // Deno reports 0 where browsers report 1006: the connection dropped without a close.
        this.#settle({ code: event.code === 0 ? 1006 : event.code, reason: event.reason });
        resolve();
      });
    });
    socket.addEventListener("message", (event) => {
      // Binary frames are not part of protocol v1: ignored.
      if (typeof event.data === "string") this.onMessage?.(event.data);
    });
  }

  send(text: string): boolean {
    // A socket that is closing drops what it is given without an error: report it instead.
    if (this.#socket.readyState !== WebSocket.OPEN) return false;
    this.#socket.send(text);
    return true;
  }

  sendDatagram(): boolean {
    return false;
  }

  async close(code: number, reason: string): Promise<void> {
    this.#settle({ code, reason });
    if (
      this.#socket.readyState === WebSocket.CONNECTING || this.#socket.readyState === WebSocket.OPEN
    ) {
      this.#socket.close(code, reason);
    }
    await waitReleased(this.#released);
  }
}

/**
 * Opens a WebSocket to `url` and resolves once it is open.
 *
 * @throws {Error} when it cannot open: refused, closed during the handshake, timed out or
 * aborted (the message says which).
 */
export function openWebSocket(
  url: string,
  options: OpenWebSocketOptions,
): Promise<ClientTransport> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new Error(`Cannot connect to ${url}: aborted`));
      return;
    }
    const socket = new WebSocket(url, options.batching ? [BATCH_SUBPROTOCOL] : []);
    socket.binaryType = "arraybuffer";
    // Messages may arrive in the same task as "open": the transport listens from the start.
    const transport = new WebSocketTransport(socket);
    let failure: string | undefined;
    const fail = (why: string) => {
      failure ??= why;
      if (socket.readyState !== WebSocket.CLOSED) socket.close();
    };
    const onAbort = () => fail("aborted");
    const timer = setTimeout(
      () => fail(`no answer within ${options.timeoutMs} ms`),
      options.timeoutMs,
    );
    const cleanup = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.removeEventListener("open", onOpen);
      socket.removeEventListener("close", onClose);
    };
    const onOpen = () => {
      // Aborted or timed out just before: the close already asked for rejects.
      if (failure !== undefined) return;
      cleanup();
      resolve(transport);
    };
    // The browser hides why a handshake failed (refused, HTTP 503, 404): only a close comes.
    // Waiting for it, not for "error", also lets the socket release its resources first.
    const onClose = (event: CloseEvent) => {
      cleanup();
      reject(new Error(`Cannot connect to ${url}: ${failure ?? `closed with code ${event.code}`}`));
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.addEventListener("open", onOpen);
    socket.addEventListener("close", onClose);
  });
}
