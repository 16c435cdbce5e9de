/**
 * The `matrixai` QUIC engine: `@matrixai/quic` from npm (Cloudflare's quiche inside, as a
 * native addon; only the linux-x64 binary is published). Its JavaScript API does not expose
 * QUIC datagrams, so this engine carries stream messages only.
 *
 * @module
 */
import Logger, { LogLevel } from "@matrixai/logger";
import {
  events,
  QUICClient,
  type QUICClientCrypto,
  type QUICConnection,
  QUICServer,
  type QUICServerCrypto,
  type QUICStream,
} from "@matrixai/quic";
import type {
  QuicCloseInfo,
  QuicConnectionHandler,
  QuicConnectOptions,
  QuicEngine,
  QuicEngineConnection,
  QuicEngineListener,
  QuicListenOptions,
} from "./quic_engine.ts";
import { waitAtMost } from "./quic_engine.ts";

/** Swallows a write's rejection: the connection failed, and `onClosed` reports it. */
const ignore = () => {};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** quiche logs through @matrixai/logger; our own logger reports what matters. */
const silentLogger = new Logger("quic", LogLevel.SILENT);

const clientCrypto: QUICClientCrypto = {
  ops: {
    randomBytes: (data: ArrayBuffer) => {
      crypto.getRandomValues(new Uint8Array(data));
      return Promise.resolve();
    },
  },
};

/** HMAC-SHA-256 for quiche's stateless-retry tokens, with a key made per listener. */
function serverCrypto(): QUICServerCrypto {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const hmac = (key: ArrayBuffer) =>
    crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
  return {
    key: raw.buffer,
    ops: {
      sign: async (key, data) => await crypto.subtle.sign("HMAC", await hmac(key), data),
      verify: async (key, data, sig) =>
        await crypto.subtle.verify("HMAC", await hmac(key), sig, data),
    },
  };
}

/** One `QUICConnection` behind {@linkcode QuicEngineConnection}, either side. */
class MatrixaiConnection implements QuicEngineConnection {
  readonly remoteAddr: string;
  readonly maxDatagramBytes = 0;
  readonly #conn: QUICConnection;
  readonly #handler: QuicConnectionHandler;
  readonly #closed: Promise<QuicCloseInfo>;
  #stream: QUICStream | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  /** Bytes handed to the writer and not yet taken by the stream (see `queuedBytes`). */
  #queuedBytes = 0;
  #reading: Promise<void> = Promise.resolve();
  #closeStarted = false;
  #isClosed = false;
  #closing: Promise<void> | undefined;
  #done: Promise<void> | undefined;

  constructor(conn: QUICConnection, handler: QuicConnectionHandler) {
    this.#conn = conn;
    this.#handler = handler;
    const host = conn.remoteHost as string;
    this.remoteAddr = host.includes(":")
      ? `[${host}]:${conn.remotePort}`
      : `${host}:${conn.remotePort}`;
    this.#closed = conn.closedP.then(() => {
      this.#isClosed = true;
      const error = conn.getConnectionError();
      return {
        code: error?.isApp ? error.errorCode : 0,
        reason: error ? decoder.decode(error.reason) : "",
        remote: !this.#closeStarted && error !== undefined,
      };
    });
  }

  /** Whether a message stream is attached. */
  get hasStream(): boolean {
    return this.#stream !== undefined;
  }

  /** Resolves once the connection is closed and the stream reader has ended. */
  get done(): Promise<void> {
    this.#done ??= this.#closed.then(async (info) => {
      await this.#reading;
      this.#handler.onClosed(info);
    });
    return this.#done;
  }

  /** Makes `stream` the message stream and starts reading it. */
  useStream(stream: QUICStream): void {
    this.#stream = stream;
    this.#writer = stream.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>;
    this.#writer.closed.catch(() => {});
    this.#reading = this.#read(stream);
  }

  async #read(stream: QUICStream): Promise<void> {
    try {
      for await (const chunk of stream.readable) this.#handler.onStreamData(chunk);
    } catch {
      // Reset by the peer, or the connection failed: no goodbye; `onClosed` says how it ended.
      return;
    }
    this.#handler.onStreamEnd();
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  writeStream(bytes: Uint8Array): boolean {
    if (this.#writer === undefined || this.#closeStarted || this.#isClosed) return false;
    const length = bytes.length;
    this.#queuedBytes += length;
    this.#writer.write(bytes).then(() => this.#queuedBytes -= length, ignore);
    return true;
  }

  sendDatagram(): boolean {
    return false;
  }

  close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closing ??= this.#close(code, reason, lingerMs);
    return this.#closing;
  }

  async #close(code: number, reason: string, lingerMs: number): Promise<void> {
    this.#closeStarted = true;
    if (!this.#isClosed && this.#writer !== undefined) {
      // Like quinn, quiche drops unread stream data when the connection closes: finish the
      // stream and give the peer up to `lingerMs` to read it (or to close first).
      const started = performance.now();
      await waitAtMost(this.#writer.close(), lingerMs);
      await waitAtMost(this.#closed, lingerMs - (performance.now() - started));
    }
    if (!this.#isClosed) {
      await this.#conn.stop({
        isApp: true,
        errorCode: code,
        reason: encoder.encode(reason),
        force: true,
      }).catch(() => {});
    }
    await this.#closed;
    await this.#reading;
  }
}

/** Reads the protected back-reference every `QUICStream` keeps to its connection. */
function streamConnection(stream: QUICStream): QUICConnection {
  return (stream as unknown as { connection: QUICConnection }).connection;
}

/** A `QUICServer` behind {@linkcode QuicEngineListener}. */
class MatrixaiListener implements QuicEngineListener {
  readonly #server: QUICServer;
  readonly #options: QuicListenOptions;
  readonly #connections = new Map<QUICConnection, MatrixaiConnection>();
  /** Streams whose event fired before their connection's (see `#onStream`). */
  readonly #early = new Map<QUICConnection, QUICStream>();
  readonly #done = new Set<Promise<void>>();
  #listening = false;
  #closing: Promise<void> | undefined;

  constructor(server: QUICServer, options: QuicListenOptions) {
    this.#server = server;
    this.#options = options;
    server.addEventListener(events.EventQUICServerConnection.name, this.#onConnection);
    // Stream events are taken where they bubble up, on the server: quiche may deliver the
    // client's first stream together with the handshake, so the stream event can fire before
    // the connection event, and a listener added on the connection then would never see it.
    server.addEventListener(events.EventQUICConnectionStream.name, this.#onStream);
  }

  async start(): Promise<void> {
    await this.#server.start({ host: this.#options.hostname, port: this.#options.port });
    this.#listening = true;
  }

  get addr(): { hostname: string; port: number } {
    return { hostname: this.#server.host as string, port: this.#server.port as number };
  }

  get listening(): boolean {
    return this.#listening;
  }

  #onConnection = (event: Event): void => {
    const conn = (event as events.EventQUICServerConnection).detail;
    // The connection exists before the gateway has its handler, so events go through a slot
    // filled right after.
    const slot: { handler?: QuicConnectionHandler } = {};
    const connection = new MatrixaiConnection(conn, {
      onStreamData: (chunk) => slot.handler!.onStreamData(chunk),
      onStreamEnd: () => slot.handler!.onStreamEnd(),
      onDatagram: () => {},
      onClosed: (info) => slot.handler?.onClosed(info),
    });
    this.#connections.set(conn, connection);
    slot.handler = this.#options.onConnection(connection);
    const done = connection.done.then(() => {
      this.#connections.delete(conn);
      this.#early.delete(conn);
    });
    this.#done.add(done);
    done.finally(() => this.#done.delete(done));
    const early = this.#early.get(conn);
    if (early) {
      this.#early.delete(conn);
      this.#attach(connection, early);
    }
  };

  #onStream = (event: Event): void => {
    const stream = (event as events.EventQUICConnectionStream).detail;
    const conn = streamConnection(stream);
    const connection = this.#connections.get(conn);
    if (connection) this.#attach(connection, stream);
    else if (!this.#early.has(conn)) this.#early.set(conn, stream);
    else stream.cancel(new Error("one message stream per connection"));
  };

  #attach(connection: MatrixaiConnection, stream: QUICStream): void {
    if (connection.hasStream) stream.cancel(new Error("one message stream per connection"));
    else connection.useStream(stream);
  }

  close(code = 1001, reason = "going away"): Promise<void> {
    this.#closing ??= this.#close(code, reason);
    return this.#closing;
  }

  async #close(code: number, reason: string): Promise<void> {
    this.#listening = false;
    await Promise.all([...this.#connections.values()].map((c) => c.close(code, reason, 0)));
    await this.#server.stop({
      isApp: true,
      errorCode: code,
      reason: encoder.encode(reason),
      force: true,
    }).catch((error) => this.#options.onError("quic server stop failed", error));
    await Promise.all([...this.#done]);
    this.#early.clear();
    this.#server.removeEventListener(events.EventQUICServerConnection.name, this.#onConnection);
    this.#server.removeEventListener(events.EventQUICConnectionStream.name, this.#onStream);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

async function listen(options: QuicListenOptions): Promise<QuicEngineListener> {
  const server = new QUICServer({
    crypto: serverCrypto(),
    config: {
      key: options.keyPem,
      cert: options.certPem,
      verifyPeer: false,
      applicationProtos: [options.alpn],
      maxIdleTimeout: options.idleTimeoutMs,
      keepAliveIntervalTime: options.keepAliveIntervalMs > 0
        ? options.keepAliveIntervalMs
        : undefined,
      // One message stream per connection.
      initialMaxStreamsBidi: 1,
      initialMaxStreamsUni: 0,
    },
    logger: silentLogger,
  });
  const listener = new MatrixaiListener(server, options);
  await listener.start();
  return listener;
}

/** A client connection that owns its `QUICClient` (and so its UDP socket). */
class MatrixaiClientConnection implements QuicEngineConnection {
  readonly maxDatagramBytes = 0;
  readonly #client: QUICClient;
  readonly #connection: MatrixaiConnection;
  readonly #done: Promise<void>;

  constructor(client: QUICClient, connection: MatrixaiConnection) {
    this.#client = client;
    this.#connection = connection;
    this.#done = connection.done.then(() => client.destroy({ force: true })).catch(() => {});
  }

  get remoteAddr(): string {
    return this.#connection.remoteAddr;
  }

  get queuedBytes(): number {
    return this.#connection.queuedBytes;
  }

  writeStream(bytes: Uint8Array): boolean {
    return this.#connection.writeStream(bytes);
  }

  sendDatagram(): boolean {
    return false;
  }

  async close(code: number, reason: string, lingerMs: number): Promise<void> {
    await this.#connection.close(code, reason, lingerMs);
    await this.#done;
    if (!this.#client.closed) await this.#client.destroy({ force: true }).catch(() => {});
  }
}

async function connect(options: QuicConnectOptions): Promise<QuicEngineConnection> {
  const client = await QUICClient.createQUICClient({
    host: options.hostname,
    port: options.port,
    localHost: options.hostname.includes(":") ? "::" : "0.0.0.0",
    crypto: clientCrypto,
    config: {
      ca: options.caCerts.length > 0 ? options.caCerts : undefined,
      verifyPeer: true,
      applicationProtos: [options.alpn],
      maxIdleTimeout: options.idleTimeoutMs,
      keepAliveIntervalTime: options.keepAliveIntervalMs > 0
        ? options.keepAliveIntervalMs
        : undefined,
    },
    logger: silentLogger,
  }, { signal: options.signal });
  const connection = new MatrixaiConnection(client.connection, options.handler);
  connection.useStream(client.connection.newStream("bidi"));
  return new MatrixaiClientConnection(client, connection);
}

/** `@matrixai/quic` (quiche). */
export const matrixaiQuicEngine: QuicEngine = {
  name: "matrixai",
  supportsDatagrams: false,
  supportsWebTransport: false,
  listen,
  connect,
};
