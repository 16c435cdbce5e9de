/**
 * What the client needs from a connection, whatever carries it: send a text envelope, receive
 * text, learn how it ended, close it. One implementation per transport, in
 * `client_transport_<name>.ts`.
 *
 * @module
 */

/** The transports the client speaks. */
export type TransportKind = "websocket" | "webtransport";

/** How a connection ended. */
export interface TransportClose {
  /** The close code: the WebSocket close code or the WebTransport session close code; 1006
   * when the connection dropped without one. */
  code: number;
  /** The reason sent with the close, or a local description. */
  reason: string;
}

/** One open connection to the gateway. */
export interface ClientTransport {
  /** Which transport this is. */
  readonly kind: TransportKind;
  /** Called with the text of every message received: one envelope, or with batching a JSON
   * array of envelopes. */
  onMessage: ((text: string) => void) | undefined;
  /** Sends one envelope on the reliable channel; false when the connection can no longer send
   * (it is closing; `closed` will resolve). */
  send(text: string): boolean;
  /** Sends one envelope as an unreliable datagram; false when this connection has no datagrams
   * or the envelope does not fit one, so the caller sends it reliably instead. */
  sendDatagram(text: string): boolean;
  /** Resolves once, when the connection ends by either side (at once for a local close). */
  readonly closed: Promise<TransportClose>;
  /** Closes the connection with `code` and waits, bounded, until it is released. Safe twice. */
  close(code: number, reason: string): Promise<void>;
}

/** Options every transport's `open` takes. */
export interface OpenTransportOptions {
  /** Gives up opening after this many ms. */
  timeoutMs: number;
  /** Aborts opening. */
  signal?: AbortSignal;
}

/** How long a transport's `close()` waits for the connection to be released (the closing
 * handshake, the session's end) before giving up on it. */
const CLOSE_WAIT_MS = 2_000;

/** Waits for `released`, at most a bounded time: how every transport's `close()` ends. */
export async function waitReleased(released: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      released,
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_WAIT_MS)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
