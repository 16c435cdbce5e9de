/**
 * The QUIC listener: decides which connections become sessions (capacity, draining) and hands
 * them to the QUIC transport, on whichever engine `quic.engine` names. Where the engine can, the
 * same listener serves WebTransport (`quic.webtransport`): it decides on each session request
 * as the WebSocket listener does on upgrades (path, draining, Origin, capacity), answering with
 * an HTTP status.
 *
 * @module
 */
import type { GatewayConfig } from "../config/config.ts";
import { type Disconnect, DisconnectServerFull, DisconnectShutdown } from "../core/disconnect.ts";
import type { Gateway } from "../core/gateway.ts";
import type { Logger } from "../core/logger.ts";
import type { ListenerEvents, RejectReason } from "../core/events.ts";
import { loadQuicEngine } from "./quic_engines.ts";
import type { TlsMaterial } from "./tls_certs.ts";
import type { WebTransportRequest } from "./webtransport/webtransport_request.ts";
import { attachQuicConnection } from "./quic_attach.ts";
import { readUdpReceiveBufferBytes, udpReceiveBufferAdvice } from "./udp_receive_buffer.ts";
import {
  type QuicConnectionHandler,
  type QuicEngineConnection,
  type QuicEngineListener,
  type WebTransportListenOptions,
} from "./quic_engine.ts";

/** Options for {@linkcode QuicServer.start}. */
export interface QuicServerOptions {
  /** The `quic` config section. */
  config: GatewayConfig["quic"];
  /** Largest message in bytes (`protocol.max_message_bytes`). */
  maxMessageBytes: number;
  /**
   * Time for a QUIC connection to open its message stream (`limits.handshake_timeout_ms`);
   * past it, it is closed with 4007. WebTransport sessions have their own handshake timeout.
   */
  streamTimeoutMs?: number;
  /** Certificate chain and key. */
  tls: TlsMaterial;
  /** Where sessions go. */
  gateway: Gateway;
  /** Listener observers (metrics). */
  events: ListenerEvents;
  /** Logger for refusals and listener faults. */
  logger: Logger;
  /**
   * Browser Origins allowed to open WebTransport sessions (403 otherwise); empty allows any.
   * Requests without an Origin (native clients) are always allowed.
   */
  allowedOrigins: readonly string[];
}

/** A handler for a connection that is being refused: it ignores whatever still arrives. */
const IGNORE: QuicConnectionHandler = {
  onStreamData: () => {},
  onStreamEnd: () => {},
  onDatagram: () => {},
  onClosed: () => {},
};

/** Serves the gateway protocol over QUIC. */
export class QuicServer implements AsyncDisposable {
  readonly #options: QuicServerOptions;
  #listener: QuicEngineListener | undefined;
  #webTransport = false;
  /** WebTransport sessions admitted (answered 200) whose session is not registered yet. */
  #admitting = 0;
  #draining = false;
  #openConnections = 0;
  #whenAllClosed: PromiseWithResolvers<void> | undefined;
  #closing: Promise<void> | undefined;

  private constructor(options: QuicServerOptions) {
    this.#options = options;
  }

  /**
   * Loads the engine and binds the listener.
   *
   * @throws {Error} when the port cannot be bound or the engine refuses the certificate.
   */
  static async start(options: QuicServerOptions): Promise<QuicServer> {
    const server = new QuicServer(options);
    const { config, tls, logger } = options;
    const engine = await loadQuicEngine(config.engine);
    const webTransport = server.#webTransport = config.webtransport.enabled &&
      engine.supportsWebTransport;
    if (config.webtransport.enabled && !engine.supportsWebTransport) {
      logger.warn("this QUIC engine has no HTTP/3; WebTransport is off", { engine: engine.name });
    }
    server.#listener = await engine.listen({
      hostname: config.host,
      port: config.port,
      alpn: config.alpn,
      certPem: tls.certPem,
      keyPem: tls.keyPem,
      idleTimeoutMs: config.idle_timeout_ms,
      keepAliveIntervalMs: config.keep_alive_interval_ms,
      datagrams: config.datagrams && engine.supportsDatagrams,
      onConnection: (connection) => server.#admit(connection),
      onError: (message, error) => logger.error(message, { error }),
      webTransport: webTransport ? server.#webTransportOptions() : undefined,
    });
    const advice = udpReceiveBufferAdvice(readUdpReceiveBufferBytes());
    if (advice !== undefined) {
      logger.warn(
        "the kernel's UDP receive buffer is small: a busy QUIC listener will drop packets",
        { ...advice },
      );
    }
    if (config.datagrams && !engine.supportsDatagrams) {
      logger.warn("this QUIC engine has no datagrams; unreliable messages use the stream", {
        engine: engine.name,
      });
    }
    return server;
  }

  /** The bound address. */
  get addr(): { hostname: string; port: number } {
    return this.#listener!.addr;
  }

  /** Whether the listener serves WebTransport too (enabled, and the engine can). */
  get webTransport(): boolean {
    return this.#webTransport;
  }

  /** Whether the listener is accepting. */
  get listening(): boolean {
    return this.#listener?.listening ?? false;
  }

  /** Connections not yet closed, sessions and refusals alike. */
  get openConnections(): number {
    return this.#openConnections;
  }

  /** Refuses new connections (closing them with 1001) from now on. */
  drain(): void {
    this.#draining = true;
  }

  /** Resolves once every connection has closed, or when `signal` aborts. */
  connectionsClosed(signal?: AbortSignal): Promise<void> {
    if (this.#openConnections === 0 || signal?.aborted) return Promise.resolve();
    this.#whenAllClosed ??= Promise.withResolvers<void>();
    const { promise, resolve } = this.#whenAllClosed;
    signal?.addEventListener("abort", () => resolve(), { once: true });
    return promise;
  }

  #connectionClosed = (): void => {
    if (--this.#openConnections === 0 && this.#whenAllClosed) {
      this.#whenAllClosed.resolve();
      this.#whenAllClosed = undefined;
    }
  };

  #refuse(
    connection: QuicEngineConnection,
    reason: RejectReason,
    disconnect: Disconnect,
  ): QuicConnectionHandler {
    this.#options.events.onConnectionRejected(reason);
    this.#options.logger.debug("connection refused", { reason, remote: connection.remoteAddr });
    this.#openConnections++;
    void connection.close(disconnect.code, disconnect.reason, 0).finally(this.#connectionClosed);
    return IGNORE;
  }

  #admit(connection: QuicEngineConnection): QuicConnectionHandler {
    const { config, gateway } = this.#options;
    if (this.#draining) return this.#refuse(connection, "draining", DisconnectShutdown);
    if (this.#sessions() >= config.max_connections) {
      return this.#refuse(connection, "max_connections", DisconnectServerFull);
    }
    this.#openConnections++;
    return attachQuicConnection(connection, {
      gateway,
      maxMessageBytes: this.#options.maxMessageBytes,
      closeLingerMs: config.close_linger_ms,
      onConnectionClosed: this.#connectionClosed,
      streamTimeoutMs: this.#options.streamTimeoutMs,
    }).handler;
  }

  /**
   * Sessions on this listener, of both protocols, with the WebTransport sessions answered 200 but
   * not registered yet: a handful of handshakes finishing together would otherwise all pass
   * before the first is registered (6 of 6 with room for 2, measured).
   */
  #sessions(): number {
    const { sessions } = this.#options.gateway;
    return sessions.count("quic") + sessions.count("webtransport") + this.#admitting;
  }

  #webTransportOptions(): WebTransportListenOptions {
    const { config, logger, events } = this.#options;
    const allowedOrigins = new Set(this.#options.allowedOrigins);
    const refuse = (status: number, reason: RejectReason) => {
      events.onConnectionRejected(reason);
      logger.debug("webtransport session refused", { reason, status });
      return status;
    };
    return {
      handshakeTimeoutMs: config.webtransport.handshake_timeout_ms,
      refuseLingerMs: config.close_linger_ms,
      admit: (request: WebTransportRequest): number => {
        if (request.url.pathname !== config.webtransport.path) return 404;
        if (this.#draining) return refuse(503, "draining");
        const { origin } = request;
        if (allowedOrigins.size > 0 && origin !== undefined && !allowedOrigins.has(origin)) {
          return refuse(403, "origin_not_allowed");
        }
        if (this.#sessions() >= config.max_connections) return refuse(503, "max_connections");
        this.#admitting++;
        return 200;
      },
      onSession: (connection) => {
        this.#admitting--;
        this.#openConnections++;
        return attachQuicConnection(connection, {
          gateway: this.#options.gateway,
          maxMessageBytes: this.#options.maxMessageBytes,
          closeLingerMs: config.close_linger_ms,
          kind: "webtransport",
          onConnectionClosed: this.#connectionClosed,
        }).handler;
      },
      onHandshakeFailed: (error) => {
        events.onConnectionRejected("bad_handshake");
        logger.debug("webtransport handshake failed", { error: error.message });
      },
    };
  }

  /** Stops accepting and closes any connection still open with 1001; safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#listener?.close(DisconnectShutdown.code, DisconnectShutdown.reason) ??
      Promise.resolve();
    return this.#closing;
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
