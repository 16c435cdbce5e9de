/**
 * The `native` QUIC engine: Deno's built-in QUIC (`Deno.QuicEndpoint`, quinn inside; needs
 * `--unstable-net`). Supports datagrams, and WebTransport on the same listener: one endpoint
 * offers both ALPNs and each connection is served by the one it negotiated.
 *
 * @module
 */
import type {
  QuicCloseInfo,
  QuicConnectionHandler,
  QuicConnectOptions,
  QuicEngine,
  QuicEngineConnection,
  QuicEngineListener,
  QuicListenOptions,
} from "./quic_engine.ts";
import { readStreamChunks, waitAtMost } from "./quic_engine.ts";
import { acceptWebTransport } from "./webtransport/webtransport_handshake.ts";
import { WebTransportConnection } from "./webtransport/webtransport_connection.ts";

/** Swallows a write's rejection: the connection failed, and `onClosed` reports it. */
const ignore = () => {};

/** The ALPN id of HTTP/3, which WebTransport runs on. */
const ALPN_H3 = "h3";

function formatAddr(addr: Deno.NetAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** One `Deno.QuicConn` behind {@linkcode QuicEngineConnection}, either side. */
class NativeConnection implements QuicEngineConnection {
  readonly remoteAddr: string;
  readonly #conn: Deno.QuicConn;
  readonly #datagrams: boolean;
  readonly #handler: QuicConnectionHandler;
  readonly #done: Promise<void>;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Bytes handed to the writer and not yet taken by the stream (see `queuedBytes`). */
  #queuedBytes = 0;
  #closeStarted = false;
  #closedInfo: QuicCloseInfo | undefined;
  #closing: Promise<void> | undefined;

  constructor(conn: Deno.QuicConn, datagrams: boolean, handler: QuicConnectionHandler) {
    this.#conn = conn;
    this.remoteAddr = formatAddr(conn.remoteAddr);
    this.#datagrams = datagrams;
    this.#handler = handler;
    const closed = conn.closed.then(
      (info) => ({ code: info.closeCode, reason: info.reason, remote: !this.#closeStarted }),
      // quinn rejects when the peer closed before the handshake was confirmed, when the
      // application code is replaced by a bare APPLICATION_ERROR (RFC 9000 §10.2.3), and when
      // the connection failed (timed out, reset): only the first is the peer's doing.
      (error) => ({
        code: 0,
        reason: "",
        remote: !this.#closeStarted && /application/i.test(String(error)),
      }),
    ).then((info) => {
      this.#closedInfo = info;
      return info;
    });
    const loops = [closed.then(() => {})];
    if (datagrams) loops.push(this.#readDatagrams());
    this.#done = Promise.all(loops).then(async () => {
      handler.onClosed(await closed);
    });
  }

  get maxDatagramBytes(): number {
    if (!this.#datagrams || this.#closedInfo !== undefined) return 0;
    return this.#conn.maxDatagramSize;
  }

  /** Resolves once the connection is closed and every read loop has ended. */
  get done(): Promise<void> {
    return this.#done;
  }

  /** Makes `stream` the message stream and starts reading it. */
  useStream(stream: Deno.QuicBidirectionalStream): Promise<void> {
    this.#writer = stream.writable.getWriter();
    // A write that fails (connection gone) surfaces through `closed`; nothing to do here.
    this.#writer.closed.catch(() => {});
    return this.#readStream(stream.readable);
  }

  async #readStream(readable: ReadableStream<Uint8Array>): Promise<void> {
    // Reset by the peer or the connection failed: no goodbye; `onClosed` says how it ended.
    if (!await readStreamChunks(readable, (chunk) => this.#handler.onStreamData(chunk))) return;
    this.#handler.onStreamEnd();
  }

  async #readDatagrams(): Promise<void> {
    try {
      while (true) this.#handler.onDatagram(await this.#conn.readDatagram());
    } catch {
      // The connection closed.
    }
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  writeStream(bytes: Uint8Array): boolean {
    if (this.#writer === undefined || this.#closeStarted || this.#closedInfo) return false;
    const length = bytes.length;
    this.#queuedBytes += length;
    this.#writer.write(bytes).then(() => this.#queuedBytes -= length, ignore);
    return true;
  }

  sendDatagram(bytes: Uint8Array): boolean {
    if (bytes.length > this.maxDatagramBytes || this.#closeStarted) return false;
    this.#conn.sendDatagram(bytes).catch(() => {});
    return true;
  }

  close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closing ??= this.#close(code, reason, lingerMs);
    return this.#closing;
  }

  async #close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closeStarted = true;
    if (this.#closedInfo === undefined && this.#writer !== undefined) {
      // quinn drops stream data that is unread when CONNECTION_CLOSE arrives, so finish the
      // stream and give the peer up to `lingerMs` to read it (or to close first).
      const started = performance.now();
      await waitAtMost(this.#writer.close(), lingerMs);
      await waitAtMost(this.#conn.closed, lingerMs - (performance.now() - started));
    }
    if (this.#closedInfo === undefined) {
      try {
        this.#conn.close({ closeCode: code, reason });
      } catch {
        // Already closed underneath us.
      }
    }
    await this.#done;
  }
}

/** Stops every stream `streams` yields until the connection closes. */
async function refuseAll(streams: ReadableStream<Deno.QuicReceiveStream>): Promise<void> {
  try {
    for await (const stream of streams) stream.cancel().catch(() => {});
  } catch {
    // The connection closed.
  }
}

/** A `Deno.QuicEndpoint` listener behind {@linkcode QuicEngineListener}. */
class NativeListener implements QuicEngineListener {
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #listener: Deno.QuicListener;
  readonly #options: QuicListenOptions;
  /** Live connections of either protocol, closed at once when the listener closes. */
  readonly #connections = new Set<Pick<QuicEngineConnection, "close">>();
  readonly #pending = new Set<Promise<void>>();
  /** Aborts WebTransport handshakes in progress when the listener closes. */
  readonly #stopping = new AbortController();
  readonly #accepting: Promise<void>;
  #listening = true;
  #closing: Promise<void> | undefined;

  constructor(options: QuicListenOptions) {
    this.#options = options;
    this.#endpoint = new Deno.QuicEndpoint({ hostname: options.hostname, port: options.port });
    try {
      // One listener for both ALPNs: a second `listen` on the endpoint would replace the first
      // one's TLS configuration rather than add to it.
      this.#listener = this.#endpoint.listen({
        alpnProtocols: options.webTransport ? [options.alpn, ALPN_H3] : [options.alpn],
        cert: options.certPem,
        key: options.keyPem,
        maxIdleTimeout: options.idleTimeoutMs,
        keepAliveInterval: options.keepAliveIntervalMs > 0
          ? options.keepAliveIntervalMs
          : undefined,
        // The message protocol needs one stream; HTTP/3 needs the CONNECT stream and the
        // message stream, and the client's control and two QPACK streams (Chromium fails with
        // fewer). The limits hold for every connection, so each refuses streams beyond its use.
        maxConcurrentBidirectionalStreams: options.webTransport ? 2 : 1,
        maxConcurrentUnidirectionalStreams: options.webTransport ? 3 : 1,
      });
    } catch (error) {
      this.#endpoint.close();
      throw error;
    }
    this.#accepting = this.#acceptLoop();
  }

  get addr(): { hostname: string; port: number } {
    const { hostname, port } = this.#endpoint.addr;
    return { hostname, port };
  }

  get listening(): boolean {
    return this.#listening;
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const incoming of this.#listener) {
        const pending = this.#accept(incoming);
        this.#pending.add(pending);
        pending.finally(() => this.#pending.delete(pending));
      }
    } catch (error) {
      if (this.#closing === undefined) this.#options.onError("quic accept loop failed", error);
    } finally {
      this.#listening = false;
    }
  }

  async #accept(incoming: Deno.QuicIncoming): Promise<void> {
    let conn: Deno.QuicConn;
    try {
      conn = await incoming.accept();
    } catch {
      return; // The handshake failed (wrong ALPN, bad client): the peer's problem.
    }
    if (this.#closing !== undefined) {
      conn.close({ closeCode: 1001, reason: "going away" });
      await conn.closed.catch(() => {});
      return;
    }
    if (conn.protocol === ALPN_H3 && this.#options.webTransport) {
      return await this.#acceptWebTransport(conn, this.#options.webTransport);
    }
    // The message protocol has no unidirectional streams: stop any the client opens.
    const refusingUnidirectional = refuseAll(conn.incomingUnidirectionalStreams);
    // The connection exists before the gateway has its handler, so events go through a slot
    // filled right after; nothing can arrive in between (no await), except a datagram.
    const slot: { handler?: QuicConnectionHandler } = {};
    const connection = new NativeConnection(conn, this.#options.datagrams, {
      onStreamData: (chunk) => slot.handler!.onStreamData(chunk),
      onStreamEnd: () => slot.handler!.onStreamEnd(),
      onDatagram: (bytes) => slot.handler?.onDatagram(bytes),
      onClosed: (info) => slot.handler?.onClosed(info),
    });
    this.#connections.add(connection);
    slot.handler = this.#options.onConnection(connection);
    const streams = conn.incomingBidirectionalStreams.getReader();
    try {
      const first = await streams.read();
      if (!first.done) {
        const reading = connection.useStream(first.value);
        // The message stream is the only one; a second stream is reset.
        for (let next = await streams.read(); !next.done; next = await streams.read()) {
          next.value.readable.cancel().catch(() => {});
          next.value.writable.abort().catch(() => {});
        }
        await reading;
      }
    } catch {
      // The connection closed while waiting for streams.
    } finally {
      streams.releaseLock();
    }
    await connection.done;
    await refusingUnidirectional;
    this.#connections.delete(connection);
  }

  async #acceptWebTransport(
    conn: Deno.QuicConn,
    options: NonNullable<QuicListenOptions["webTransport"]>,
  ): Promise<void> {
    let session;
    try {
      session = await acceptWebTransport(conn, {
        decide: (request) => options.admit(request),
        timeoutMs: options.handshakeTimeoutMs,
        lingerMs: options.refuseLingerMs,
        signal: this.#stopping.signal,
      });
    } catch (error) {
      options.onHandshakeFailed(error as Error);
      return;
    }
    if (session === undefined) return; // Refused with an HTTP status; closed.
    // As for the message protocol, the handler comes from the gateway right after.
    const slot: { handler?: QuicConnectionHandler } = {};
    const connection = new WebTransportConnection(session, {
      onStreamData: (chunk) => slot.handler!.onStreamData(chunk),
      onStreamEnd: () => slot.handler!.onStreamEnd(),
      onDatagram: (bytes) => slot.handler?.onDatagram(bytes),
      onClosed: (info) => slot.handler?.onClosed(info),
    });
    this.#connections.add(connection);
    slot.handler = options.onSession(connection);
    await connection.done;
    this.#connections.delete(connection);
  }

  close(code = 1001, reason = "going away"): Promise<void> {
    this.#closing ??= this.#close(code, reason);
    return this.#closing;
  }

  async #close(code: number, reason: string): Promise<void> {
    this.#listener.stop();
    this.#stopping.abort();
    await Promise.all([...this.#connections].map((c) => c.close(code, reason, 0)));
    // Connections still in their handshake close themselves once accepted (see `#accept`):
    // closing the endpoint under them would reach the client as a bare APPLICATION_ERROR
    // without our code (RFC 9000 §10.2.3).
    await Promise.all([...this.#pending]);
    // Only closing the endpoint ends the listener's iterator; `stop` just refuses new ones.
    this.#endpoint.close({ closeCode: code, reason });
    await this.#accepting;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A client connection that owns its endpoint. */
class NativeClientConnection implements QuicEngineConnection {
  readonly #connection: NativeConnection;
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #reading: Promise<void>;

  constructor(
    connection: NativeConnection,
    endpoint: Deno.QuicEndpoint,
    stream: Deno.QuicBidirectionalStream,
  ) {
    this.#connection = connection;
    this.#endpoint = endpoint;
    this.#reading = connection.useStream(stream);
    Promise.all([this.#reading, connection.done]).finally(() => endpoint.close());
  }

  get remoteAddr(): string {
    return this.#connection.remoteAddr;
  }

  get maxDatagramBytes(): number {
    return this.#connection.maxDatagramBytes;
  }

  get queuedBytes(): number {
    return this.#connection.queuedBytes;
  }

  writeStream(bytes: Uint8Array): boolean {
    return this.#connection.writeStream(bytes);
  }

  sendDatagram(bytes: Uint8Array): boolean {
    return this.#connection.sendDatagram(bytes);
  }

  async close(code: number, reason: string, lingerMs: number): Promise<void> {
    await this.#connection.close(code, reason, lingerMs);
    await this.#reading;
    this.#endpoint.close();
  }
}

async function connect(options: QuicConnectOptions): Promise<QuicEngineConnection> {
  options.signal?.throwIfAborted();
  const endpoint = new Deno.QuicEndpoint({
    hostname: options.hostname.includes(":") ? "::" : "0.0.0.0",
    port: 0,
  });
  let conn: Deno.QuicConn | undefined;
  const abort = () => {
    if (conn) conn.close({ closeCode: 0, reason: "aborted" });
    else endpoint.close();
  };
  options.signal?.addEventListener("abort", abort, { once: true });
  try {
    conn = await Deno.connectQuic({
      endpoint,
      hostname: options.hostname,
      port: options.port,
      alpnProtocols: [options.alpn],
      caCerts: options.caCerts,
      maxIdleTimeout: options.idleTimeoutMs,
      keepAliveInterval: options.keepAliveIntervalMs > 0 ? options.keepAliveIntervalMs : undefined,
    });
    const stream = await conn.createBidirectionalStream();
    options.signal?.throwIfAborted();
    const connection = new NativeConnection(conn, true, options.handler);
    return new NativeClientConnection(connection, endpoint, stream);
  } catch (error) {
    if (conn) {
      conn.close({ closeCode: 0, reason: "connect failed" });
      await conn.closed.catch(() => {});
    }
    endpoint.close();
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", abort);
  }
}

/** Deno's built-in QUIC (quinn). */
export const nativeQuicEngine: QuicEngine = {
  name: "native",
  supportsDatagrams: true,
  supportsWebTransport: true,
  listen: (options) => Promise.resolve(new NativeListener(options)),
  connect,
};
