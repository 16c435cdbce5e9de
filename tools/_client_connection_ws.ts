/**
 * The WebSocket {@linkcode ClientConnection}, on the `ws` npm package rather than Deno's
 * built-in `WebSocket`: only `ws` (through `node:net`) can choose the local address and port to
 * connect from, which the load test needs to spread tens of thousands of sessions over several
 * `127.0.0.x` sources without the kernel's slow port search (see `_source_ports.ts`).
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
  /** Whether this side started the close; a close the gateway started stays the gateway's even
   * when `close()` is called while its closing handshake is still under way. */
  #closedByClient = false;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) => {
      socket.on("close", (code: number, reason: Uint8Array) => {
        resolve({ code, reason: decoder.decode(reason), byClient: this.#closedByClient });
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
      const state = this.#socket.readyState;
      if (state === WebSocket.OPEN) {
        this.#closedByClient = true;
        this.#socket.close(code, reason);
      } else if (state !== WebSocket.CLOSING) {
        this.#closedByClient = true;
        this.#socket.terminate();
      }
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

  async abort(): Promise<void> {
    this.#closing = true;
    this.#closedByClient = true;
    this.#socket.terminate();
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function isIPv4(hostname: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname);
}

/** Local ports tried, one after another, before a connection counts as failed. */
const PORT_ATTEMPTS = 16;

/**
 * Whether `error` says the local address and port cannot be used for this connection: the
 * port is bound by another socket, or connected to the same peer already (`EADDRNOTAVAIL`,
 * which Deno's `node:net` reports as `EINVAL`).
 */
function isLocalPortTaken(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === "EADDRINUSE" || code === "EADDRNOTAVAIL" || code === "EINVAL";
}

/**
 * Opens a WebSocket to `ws://hostname:port/path`. With `localAddress` and `localPorts`, it
 * connects from a port taken from `localPorts`, moves on to the next port while the chosen one
 * is taken, and gives the port back when the connection ends.
 *
 * @throws {ConnectError} when the connection or the upgrade fails, times out or is aborted.
 */
export async function connectWs(options: ConnectOptions): Promise<ClientConnection> {
  const ports = options.localAddress === undefined ? undefined : options.localPorts;
  if (ports === undefined) return await openWs(options, undefined);
  for (let attempt = 1;; attempt++) {
    const port = ports.take();
    if (port === undefined) {
      throw new ConnectError(
        "address_not_available",
        `Cannot connect to ${wsUrl(options)}: every local port of ${options.localAddress} ` +
          `is held by this process`,
      );
    }
    try {
      const connection = await openWs(options, port);
      void connection.closed.then(() => ports.release(port));
      return connection;
    } catch (error) {
      ports.release(port);
      const retry = error instanceof ConnectError && error.reason === "address_not_available" &&
        attempt < PORT_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

function wsUrl(options: ConnectOptions): string {
  const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
  return `ws://${host}:${options.port}${options.path}`;
}

/** One connection attempt, from `localPort` when given. */
function openWs(options: ConnectOptions, localPort: number | undefined): Promise<ClientConnection> {
  const url = wsUrl(options);
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
      localAddress: options.localAddress,
      localPort,
      // A 127.0.0.x source can only reach an IPv4 destination: keep "localhost" on IPv4.
      family: options.localAddress && isIPv4(options.localAddress) ? 4 : undefined,
    });
    const fail = (reason: string, message: string, cause?: unknown) => {
      cleanup();
      socket.terminate();
      reject(new ConnectError(reason, `Cannot connect to ${url}: ${message}`, { cause }));
    };
    const onAbort = () => fail("aborted", "aborted");
    const onError = (error: Error) =>
      fail(
        localPort !== undefined && isLocalPortTaken(error)
          ? "address_not_available"
          : connectFailureReason(error),
        error.message,
        error,
      );
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
