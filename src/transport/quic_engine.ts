/**
 * The small interface each QUIC engine implements (`quic_engine_native.ts`,
 * `quic_engine_matrixai.ts`): listen, connect, and one connection's stream, datagrams and close.
 * Everything above it (framing, the transport, the listener) is engine-independent.
 *
 * @module
 */
import type { QuicEngineName } from "../config/config.ts";
import type { WebTransportRequest } from "./webtransport/webtransport_request.ts";

/** How a QUIC connection ended, as either side sees it. */
export interface QuicCloseInfo {
  /** The application error code (the numbers of `disconnect.ts`), or 0 when none was sent. */
  code: number;
  /** The reason phrase sent with the code. */
  reason: string;
  /** Whether the peer (rather than this side or a timeout) closed the connection. */
  remote: boolean;
}

/**
 * Called with bytes read from the message stream, in order. The bytes are only valid during the
 * call (engines reuse the buffer): copy what must outlive it.
 */
export type StreamDataHandler = (chunk: Uint8Array) => void;
/**
 * Called once when the peer finishes (FIN) the message stream: its goodbye. A reset stream or a
 * failed connection is no goodbye; `onClosed` tells how the connection ended.
 */
export type StreamEndHandler = () => void;
/** Called with one received QUIC datagram. */
export type DatagramHandler = (bytes: Uint8Array) => void;
/** Called once when the connection has closed, for whatever reason. */
export type ConnectionClosedHandler = (info: QuicCloseInfo) => void;

/** What an engine reports about one connection. Engines call these; they never throw. */
export interface QuicConnectionHandler {
  /** Bytes arrived on the message stream. */
  onStreamData: StreamDataHandler;
  /** The peer finished the message stream. */
  onStreamEnd: StreamEndHandler;
  /** A datagram arrived. */
  onDatagram: DatagramHandler;
  /** The connection closed. */
  onClosed: ConnectionClosedHandler;
}

/** One QUIC connection as an engine exposes it, server or client side. */
export interface QuicEngineConnection {
  /** The peer's `host:port`. */
  readonly remoteAddr: string;
  /** Largest datagram payload the connection can send now; 0 when datagrams are off. */
  readonly maxDatagramBytes: number;
  /**
   * Bytes queued on the message stream and not yet taken by the QUIC stack: they wait while
   * the peer's flow-control window is shut (a client that does not read). Counted per write.
   */
  readonly queuedBytes: number;
  /** Queues bytes on the message stream; false once the connection can no longer send. */
  writeStream(bytes: Uint8Array): boolean;
  /** Sends one datagram; false when datagrams are off, it is too big, or the connection is gone. */
  sendDatagram(bytes: Uint8Array): boolean;
  /**
   * Finishes the message stream once queued bytes are written, gives the peer `lingerMs` to
   * read them (or to close first), then closes the connection with `code` as the application
   * error code. Safe to call twice; resolves when the connection is closed.
   */
  close(code: number, reason: string, lingerMs: number): Promise<void>;
}

/**
 * What a listener needs to serve WebTransport sessions (ALPN `h3`) next to the message
 * protocol, on engines that can (`supportsWebTransport`).
 */
export interface WebTransportListenOptions {
  /** Bound on the HTTP/3 handshake (the client's SETTINGS and CONNECT), ms. */
  handshakeTimeoutMs: number;
  /** How long a refused request waits for the client to read its status, ms. */
  refuseLingerMs: number;
  /**
   * Decides on a session request: 200 accepts it, another HTTP status refuses it. Every 200 is
   * followed by `onSession` for that session.
   */
  admit(request: WebTransportRequest): number;
  /**
   * Called once per accepted session, as a connection whose first stream is the message
   * stream; returns the handler for its events.
   */
  onSession(connection: QuicEngineConnection): QuicConnectionHandler;
  /** Called when a connection that offered `h3` fails its handshake (closed by then). */
  onHandshakeFailed(error: Error): void;
}

/** What a QUIC listener needs from the gateway side, whatever the engine. */
export interface QuicListenOptions {
  /** Address to bind. */
  hostname: string;
  /** UDP port to bind; 0 picks a free one. */
  port: number;
  /** The ALPN protocol id clients must offer. */
  alpn: string;
  /** Certificate chain, PEM, leaf first. */
  certPem: string;
  /** The leaf's private key, PEM (PKCS#8). */
  keyPem: string;
  /** Close a connection after this much silence (no packets at all), ms. */
  idleTimeoutMs: number;
  /** Send a QUIC PING after this much silence so NATs keep the mapping, ms; 0 disables. */
  keepAliveIntervalMs: number;
  /** Whether to accept and send QUIC datagrams. */
  datagrams: boolean;
  /**
   * Called once per connection after its handshake; returns the handler for its events.
   * The connection may be closed at once (e.g. `max_connections`).
   */
  onConnection(connection: QuicEngineConnection): QuicConnectionHandler;
  /** Reports a listener or connection fault that is not the peer's doing. */
  onError(message: string, error: unknown): void;
  /** Also serve WebTransport on this listener; only where `supportsWebTransport`. */
  webTransport?: WebTransportListenOptions;
}

/** A bound QUIC listener. */
export interface QuicEngineListener extends AsyncDisposable {
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /** Whether the accept loop is running. */
  readonly listening: boolean;
  /** Stops accepting and closes every connection still open with `code`; safe twice. */
  close(code?: number, reason?: string): Promise<void>;
}

/** What a QUIC client needs to connect, whatever the engine. */
export interface QuicConnectOptions {
  /** Server host name or IP address. */
  hostname: string;
  /** Server UDP port. */
  port: number;
  /** The ALPN protocol id to offer. */
  alpn: string;
  /** Extra trusted CA certificates, PEM, e.g. the gateway's development CA. */
  caCerts: string[];
  /** Close after this much silence, ms. */
  idleTimeoutMs: number;
  /** Send a QUIC PING after this much silence, ms; 0 disables. */
  keepAliveIntervalMs: number;
  /** Receives the connection's events; the message stream is opened before this resolves. */
  handler: QuicConnectionHandler;
  /** Aborts the connection attempt. */
  signal?: AbortSignal;
}

/** One QUIC library behind the gateway's small interface (`quic.engine`). */
export interface QuicEngine {
  /** The engine's config name. */
  readonly name: QuicEngineName;
  /** Whether connections on this engine can carry QUIC datagrams. */
  readonly supportsDatagrams: boolean;
  /** Whether its listener can serve WebTransport (HTTP/3) next to the message protocol. */
  readonly supportsWebTransport: boolean;
  /**
   * Binds a listener and starts accepting.
   *
   * @throws {Error} when the address cannot be bound or the certificate is refused.
   */
  listen(options: QuicListenOptions): Promise<QuicEngineListener>;
  /** Connects to a server and opens the message stream. */
  connect(options: QuicConnectOptions): Promise<QuicEngineConnection>;
}

/**
 * Bytes one read of a message stream takes at most. Each connection keeps one buffer this size
 * for its reads; longer messages take several.
 */
export const STREAM_READ_BYTES = 8 * 1024;

/**
 * Reads a QUIC stream's bytes into one buffer of {@linkcode STREAM_READ_BYTES}, reused from read
 * to read, and hands each chunk to `onData` (valid during the call only). Resolves true when the
 * peer finished the stream, false when it was reset or the connection failed.
 *
 * Deno's default reader allocates 64 KiB for every read, which an idle connection holds while it
 * waits and a busy one leaves to the garbage collector: holding 10,000 QUIC connections, a gateway
 * needed 2,246 MB and 35% of a core with it, 914 MB and 23% with this (docs/load_test_100000.md).
 */
export async function readStreamChunks(
  readable: ReadableStream<Uint8Array>,
  onData: StreamDataHandler,
): Promise<boolean> {
  const reader = readable.getReader({ mode: "byob" });
  let buffer = new ArrayBuffer(STREAM_READ_BYTES);
  try {
    while (true) {
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done) return true;
      onData(value);
      buffer = value.buffer;
    }
  } catch {
    return false;
  }
}

/**
 * Resolves after `ms`, or as soon as `until` settles (either way); never leaves a timer behind.
 * Engines use it to bound the close linger.
 */
export function waitAtMost(until: Promise<unknown>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  return Promise.race([until.then(() => {}, () => {}), timeout]).finally(() => clearTimeout(timer));
}
