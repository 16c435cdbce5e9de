/**
 * The WebSocket {@linkcode ClientConnection}, on the `ws` npm package rather than Deno's
 * built-in `WebSocket`: only `ws` can choose the local address to connect from, which the load
 * test needs to spread tens of thousands of sessions over several `127.0.0.x` sources.
 *
 * @module
 */
import WebSocket from "ws";
import {
  type ClientConnection,
  type CloseInfo,
  ConnectError,
  connectFailureReason,
  type ConnectOptions,
} from "./_client_connection.ts";

/** How long `close()` waits for the closing handshake before dropping the socket. */
const CLOSE_WAIT_MS = 2_000;

const decoder = new TextDecoder();

class WsClientConnection implements ClientConnection {
  onMessage: ((text: string) => void) | undefined;
  readonly closed: Promise<CloseInfo>;
  readonly #socket: WebSocket;
  #closing = false;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on("close", (code: number, reason: Uint8Array) => {
        resolve({ code, reason: decoder.decode(reason), byClient: this.#closing });
      });
    });
    socket.on("message", (data: Uint8Array, isBinary: boolean) => {
      if (!isBinary) this.onMessage?.(decoder.decode(data));
    });
  }

  send(text: string): Promise<void> {
    if (this.#socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("Cannot send: the WebSocket is no longer open"));
    }
    // Queued in order on the socket; waiting for each write would only slow the sender.
    this.#socket.send(text);
    return Promise.resolve();
  }

  async close(code = 1000, reason = ""): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      if (this.#socket.readyState === WebSocket.OPEN) this.#socket.close(code, reason);
      else this.#socket.terminate();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#socket.terminate();
        resolve();
      }, CLOSE_WAIT_MS);
    });
    try {
      await Promise.race([this.closed, gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function isIPv4(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Opens a WebSocket to `ws://hostname:port/path`.
 *
 * @throws {ConnectError} when the connection or the upgrade fails, times out or is aborted.
 */
export function connectWs(options: ConnectOptions): Promise<ClientConnection> {
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  const url = `ws://${host}:${options.port}${options.path}`;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
      localAddress: options.localAddress,
      // A 127.0.0.x source can only reach an IPv4 destination: keep "localhost" on IPv4.
      family: options.localAddress && isIPv4(options.localAddress) ? 4 : undefined,
    });
    const fail = (reason: string, message: string, cause?: unknown) => {
      cleanup();
      socket.terminate();
      reject(new ConnectError(reason, `Cannot connect to ${url}: ${message}`, { cause }));
    };
    const onAbort = () => fail("aborted", "aborted");
    const onError = (error: Error) => fail(connectFailureReason(error), error.message, error);
    const onClose = (code: number) => fail("closed", `closed with code ${code} while connecting`);
    const onOpen = () => {
      cleanup();
      resolve(new WsClientConnection(socket));
    };
    const cleanup = () => {
      options.signal?.removeEventListener("abort", onAbort);
      socket.off("open", onOpen);
      socket.off("close", onClose);
      socket.off("error", onError);
      // Errors after the upgrade surface as a close (code 1006); keep them from throwing.
      socket.on("error", () => {});
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    socket.on("open", onOpen);
    socket.on("close", onClose);
    socket.on("error", onError);
  });
}
