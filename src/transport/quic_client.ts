/**
 * A QUIC client for the gateway's protocol (docs/protocol.md, "QUIC"), on either engine: for
 * tools, tests and benchmarks.
 *
 * @module
 */
import { DisconnectClientClosed, DisconnectProtocolErrors } from "../core/disconnect.ts";
import { loadQuicEngine } from "./quic_engines.ts";
import { encodeFrame, FrameDecoder } from "./quic_framing.ts";
import { type QuicEngineConnection } from "./quic_engine.ts";
import { type QuicEngineName } from "../config/config.ts";

/** The ALPN id the gateway offers unless `quic.alpn` says otherwise. */
export const DEFAULT_QUIC_ALPN = "mmo";

/** Largest message the client accepts from the gateway, bytes. */
const MAX_INBOUND_BYTES = 16 * 1024 * 1024;

/** Options for {@linkcode connectQuic}. */
export interface ConnectQuicOptions {
  /** Gateway host name or IP address. */
  hostname: string;
  /** Gateway QUIC (UDP) port. */
  port: number;
  /** ALPN id; default `mmo`. */
  alpn?: string;
  /** Extra trusted CA certificates, PEM (e.g. the gateway's development CA). */
  caCerts?: string[];
  /** Which QUIC library to use; default `native`. */
  engine?: QuicEngineName;
  /** Close after this much silence, ms; default 30 000. */
  idleTimeoutMs?: number;
  /** QUIC keep-alive interval, ms; default 10 000, 0 disables. */
  keepAliveIntervalMs?: number;
  /** Aborts the connection attempt, or closes the connection once established. */
  signal?: AbortSignal;
}

/** How a QUIC connection to the gateway ended. */
export interface QuicClientCloseInfo {
  /** The application error code (the numbers of `disconnect.ts`); 0 when none was given. */
  code: number;
  /** The reason sent with it. */
  reason: string;
}

/** One connection to the gateway over QUIC. */
export interface QuicClientConnection extends AsyncDisposable {
  /** Sends one envelope (any text) as a frame on the message stream. */
  send(text: string): Promise<void>;
  /**
   * Sends one envelope as a QUIC datagram (unreliable, unordered).
   *
   * @throws {RangeError} when datagrams are off or the envelope does not fit in one.
   */
  sendDatagram(text: string): Promise<void>;
  /** Receives every message from the gateway, stream frames and datagrams alike. */
  onMessage: ((text: string) => void) | undefined;
  /** Resolves once the connection has closed. */
  readonly closed: Promise<QuicClientCloseInfo>;
  /**
   * Closes at once with `code` (default 1000) and waits until closed; safe to call twice.
   * QUIC drops data the peer has not read yet, so await the replies you need first.
   */
  close(code?: number, reason?: string): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Client implements QuicClientConnection {
  readonly closed: Promise<QuicClientCloseInfo>;
  readonly #closed = Promise.withResolvers<QuicClientCloseInfo>();
  readonly #backlog: string[] = [];
  #onMessage: ((text: string) => void) | undefined;
  #connection: QuicEngineConnection | undefined;

  constructor() {
    this.closed = this.#closed.promise;
  }

  get onMessage(): ((text: string) => void) | undefined {
    return this.#onMessage;
  }

  /** Messages that arrived before a handler was set are delivered to it at once. */
  set onMessage(handler: ((text: string) => void) | undefined) {
    this.#onMessage = handler;
    while (handler && this.#backlog.length > 0) handler(this.#backlog.shift()!);
  }

  deliver(text: string): void {
    if (this.#onMessage) this.#onMessage(text);
    else this.#backlog.push(text);
  }

  attach(connection: QuicEngineConnection): void {
    this.#connection = connection;
  }

  ended(code: number, reason: string): void {
    this.#closed.resolve({ code, reason });
  }

  send(text: string): Promise<void> {
    if (!this.#connection?.writeStream(encodeFrame(text))) {
      return Promise.reject(new Error("Cannot send: the QUIC connection is closed"));
    }
    return Promise.resolve();
  }

  sendDatagram(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    const max = this.#connection?.maxDatagramBytes ?? 0;
    if (bytes.length > max) {
      return Promise.reject(
        new RangeError(
          max === 0
            ? "Cannot send datagram: the connection does not carry datagrams"
            : `Cannot send datagram: ${bytes.length} bytes is above the maximum of ${max}`,
        ),
      );
    }
    if (!this.#connection!.sendDatagram(bytes)) {
      return Promise.reject(new Error("Cannot send datagram: the QUIC connection is closed"));
    }
    return Promise.resolve();
  }

  async close(
    code = DisconnectClientClosed.code,
    reason = DisconnectClientClosed.reason,
  ): Promise<void> {
    await this.#connection?.close(code, reason, 0);
    await this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Connects to the gateway over QUIC and opens the message stream.
 *
 * @throws {Error} when the handshake fails (unreachable, untrusted certificate, wrong ALPN).
 */
export async function connectQuic(options: ConnectQuicOptions): Promise<QuicClientConnection> {
  const engine = await loadQuicEngine(options.engine ?? "native");
  const client = new Client();
  const frames = new FrameDecoder(MAX_INBOUND_BYTES, {
    onFrame: (payload) => client.deliver(decoder.decode(payload)),
    onFault: () => {
      void client.close(DisconnectProtocolErrors.code, DisconnectProtocolErrors.reason);
    },
  });
  const connection = await engine.connect({
    hostname: options.hostname,
    port: options.port,
    alpn: options.alpn ?? DEFAULT_QUIC_ALPN,
    caCerts: options.caCerts ?? [],
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    keepAliveIntervalMs: options.keepAliveIntervalMs ?? 10_000,
    signal: options.signal,
    handler: {
      onStreamData: (chunk) => frames.push(chunk),
      onStreamEnd: () => frames.end(),
      onDatagram: (bytes) => client.deliver(decoder.decode(bytes)),
      onClosed: (info) => client.ended(info.code, info.reason),
    },
  });
  client.attach(connection);
  if (options.signal) {
    const signal = options.signal;
    const onAbort = () => void client.close();
    signal.addEventListener("abort", onAbort, { once: true });
    client.closed.finally(() => signal.removeEventListener("abort", onAbort));
  }
  return client;
}
