/**
 * The QUIC transport, engine-independent: the length-prefixed framing of the message stream,
 * the {@linkcode Transport} over one QUIC connection, and the small interface each QUIC engine
 * (`transport_quic_native.ts`, `transport_quic_matrixai.ts`) implements.
 *
 * Wire format (docs/protocol.md, "QUIC"): the client opens one bidirectional stream; every
 * message on it is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
 * Unreliable messages may travel as QUIC datagrams instead, one envelope per datagram,
 * without a length prefix.
 *
 * @module
 */
import {
  type Disconnect,
  DisconnectClientClosed,
  DisconnectMessageTooBig,
  DisconnectProtocolErrors,
  DisconnectTransportError,
} from "./disconnect.ts";
import type { Gateway } from "./gateway.ts";
import type { Session } from "./session.ts";
import type { Transport } from "./transport.ts";

/** Bytes in a frame's length prefix. */
export const FRAME_HEADER_BYTES = 4;

/** Names of the QUIC engines (`quic.engine`). */
export type QuicEngineName = "native" | "matrixai";

/** Every QUIC engine, for config validation and tests. */
export const QUIC_ENGINES: readonly QuicEngineName[] = ["native", "matrixai"];

/** How a QUIC connection ended, as either side sees it. */
export interface QuicCloseInfo {
  /** The application error code (the numbers of `disconnect.ts`), or 0 when none was sent. */
  code: number;
  /** The reason phrase sent with the code. */
  reason: string;
  /** Whether the peer (rather than this side or a timeout) closed the connection. */
  remote: boolean;
}

/** Called with bytes read from the message stream, in order. */
export type StreamDataHandler = (chunk: Uint8Array) => void;
/** Called once when the peer finishes (FIN) or resets the message stream. */
export type StreamEndHandler = () => void;
/** Called with one received QUIC datagram. */
export type DatagramHandler = (bytes: Uint8Array) => void;
/** Called once when the connection has closed, for whatever reason. */
export type ConnectionClosedHandler = (info: QuicCloseInfo) => void;

/** What an engine reports about one connection. Engines call these; they never throw. */
export interface QuicConnectionHandler {
  /** Bytes arrived on the message stream. */
  onStreamData: StreamDataHandler;
  /** The message stream ended. */
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
 * Resolves after `ms`, or as soon as `until` settles (either way); never leaves a timer behind.
 * Engines use it to bound the close linger.
 */
export function waitAtMost(until: Promise<unknown>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  return Promise.race([until.then(() => {}, () => {}), timeout]).finally(() => clearTimeout(timer));
}

const encoder = new TextEncoder();

/** Encodes one message as a frame: a 4-byte big-endian length, then the UTF-8 text. */
export function encodeFrame(text: string): Uint8Array {
  // UTF-8 needs at most 3 bytes per UTF-16 unit; encode in place after the header.
  const frame = new Uint8Array(FRAME_HEADER_BYTES + text.length * 3);
  const { written } = encoder.encodeInto(text, frame.subarray(FRAME_HEADER_BYTES));
  new DataView(frame.buffer).setUint32(0, written);
  return frame.subarray(0, FRAME_HEADER_BYTES + written);
}

/** Why the frame decoder gave up on a stream. */
export type FrameFault = "empty_frame" | "frame_too_big" | "truncated_frame";

/** Where decoded frames and framing faults go. */
export interface FrameSink {
  /** One complete frame's payload (a view valid only during the call). */
  onFrame(payload: Uint8Array): void;
  /** The stream is unusable; `message` says why, for the error reply. */
  onFault(fault: FrameFault, message: string, declaredBytes: number): void;
}

/**
 * Splits a byte stream into length-prefixed frames. It buffers at most one frame (the header
 * is checked before the payload is buffered), so a peer cannot make it hold more than
 * `maxFrameBytes + 4` bytes. After a fault it ignores further input.
 */
export class FrameDecoder {
  readonly #maxFrameBytes: number;
  readonly #sink: FrameSink;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #payload: Uint8Array | undefined;
  #payloadFilled = 0;
  #failed = false;

  /** Creates a decoder that refuses frames longer than `maxFrameBytes`. */
  constructor(maxFrameBytes: number, sink: FrameSink) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#sink = sink;
  }

  /** Whether a fault has stopped the decoder. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Feeds bytes read from the stream. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length && !this.#failed) {
      if (this.#payload === undefined) {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, chunk.length - offset);
        this.#header.set(chunk.subarray(offset, offset + take), this.#headerFilled);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < FRAME_HEADER_BYTES) return;
        this.#headerFilled = 0;
        const length = new DataView(this.#header.buffer).getUint32(0);
        if (length === 0) {
          this.#fail("empty_frame", "Cannot decode frame: length 0 is below the minimum of 1", 0);
          return;
        }
        if (length > this.#maxFrameBytes) {
          this.#fail(
            "frame_too_big",
            `Cannot decode frame: length ${length} is above the maximum of ${this.#maxFrameBytes}`,
            length,
          );
          return;
        }
        // A whole frame already in this chunk is handed on without copying.
        if (chunk.length - offset >= length) {
          this.#sink.onFrame(chunk.subarray(offset, offset + length));
          offset += length;
          continue;
        }
        this.#payload = new Uint8Array(length);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload;
      const take = Math.min(payload.length - this.#payloadFilled, chunk.length - offset);
      payload.set(chunk.subarray(offset, offset + take), this.#payloadFilled);
      this.#payloadFilled += take;
      offset += take;
      if (this.#payloadFilled === payload.length) {
        this.#payload = undefined;
        this.#sink.onFrame(payload);
      }
    }
  }

  /** The stream ended; a partial frame left over is a fault. */
  end(): void {
    if (this.#failed) return;
    if (this.#payload !== undefined || this.#headerFilled > 0) {
      const have = this.#payload === undefined ? this.#headerFilled : this.#payloadFilled;
      const want = this.#payload === undefined ? FRAME_HEADER_BYTES : this.#payload.length;
      this.#fail(
        "truncated_frame",
        `Cannot decode frame: the stream ended after ${have} of ${want} bytes`,
        want,
      );
    }
  }

  #fail(fault: FrameFault, message: string, declaredBytes: number): void {
    this.#failed = true;
    this.#payload = undefined;
    this.#sink.onFault(fault, message, declaredBytes);
  }
}

/** Options for {@linkcode QuicTransport}. */
export interface QuicTransportOptions {
  /** How long a closing connection waits for the peer to read its last frames, ms. */
  closeLingerMs: number;
}

/** A QUIC connection as a gateway {@linkcode Transport}. */
export class QuicTransport implements Transport {
  /** Always `quic`. */
  readonly kind = "quic" as const;
  readonly #connection: QuicEngineConnection;
  readonly #closeLingerMs: number;
  #closing = false;

  /** Wraps an engine connection. */
  constructor(connection: QuicEngineConnection, options: QuicTransportOptions) {
    this.#connection = connection;
    this.#closeLingerMs = options.closeLingerMs;
  }

  /** Sends one envelope as a frame on the message stream. */
  write(text: string): boolean {
    if (this.#closing) return false;
    return this.#connection.writeStream(encodeFrame(text));
  }

  /** Sends one envelope as a datagram; false when it cannot go (off, too big, closed). */
  writeDatagram(text: string): boolean {
    if (this.#closing) return false;
    return this.#connection.sendDatagram(encoder.encode(text));
  }

  /** Closes the connection with the disconnect's code as the application error code. */
  close(disconnect: Disconnect): void {
    if (this.#closing) return;
    this.#closing = true;
    void this.#connection.close(disconnect.code, disconnect.reason, this.#closeLingerMs);
  }
}

/** Options for {@linkcode attachQuicConnection}. */
export interface AttachQuicOptions {
  /** Where frames go. */
  gateway: Gateway;
  /** Largest message in bytes (`protocol.max_message_bytes`). */
  maxMessageBytes: number;
  /** See {@linkcode QuicTransportOptions.closeLingerMs}. */
  closeLingerMs: number;
  /** Called once the connection has closed, after its session ended. */
  onConnectionClosed?: () => void;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Registers an accepted QUIC connection as a session and returns the handler the engine feeds.
 * Framing faults are answered with an error and a close (1009 for a frame over the maximum,
 * 1008 otherwise): a length-prefixed stream cannot be resynchronised after one.
 */
export function attachQuicConnection(
  connection: QuicEngineConnection,
  options: AttachQuicOptions,
): { session: Session; handler: QuicConnectionHandler } {
  const { gateway } = options;
  const transport = new QuicTransport(connection, options);
  const session = gateway.open(transport, connection.remoteAddr);
  const deliver = (payload: Uint8Array, datagram: boolean) => {
    let text: string;
    try {
      text = decoder.decode(payload);
    } catch {
      gateway.receiveBinary(session, payload.length);
      return;
    }
    if (datagram) gateway.receiveDatagram(session, text, payload.length);
    else gateway.receiveText(session, text, payload.length);
  };
  const frames = new FrameDecoder(options.maxMessageBytes, {
    onFrame: (payload) => deliver(payload, false),
    onFault: (fault, message) => {
      // A stream cut short because the session already ended is no client fault.
      if (gateway.sessions.get(session.id) !== session) return;
      gateway.receiveUnframed(
        session,
        message,
        fault === "frame_too_big" ? DisconnectMessageTooBig : DisconnectProtocolErrors,
      );
    },
  });
  const handler: QuicConnectionHandler = {
    onStreamData: (chunk) => frames.push(chunk),
    onStreamEnd: () => {
      frames.end();
      // Finishing the message stream is how a client says goodbye without a close code.
      if (!frames.failed) gateway.close(session, DisconnectClientClosed);
    },
    onDatagram: (bytes) => {
      if (bytes.length > options.maxMessageBytes) {
        gateway.receiveUnframed(session, "Datagram too big", DisconnectMessageTooBig);
      } else deliver(bytes, true);
    },
    onClosed: (info) => {
      gateway.closed(session, info.remote ? DisconnectClientClosed : DisconnectTransportError);
      options.onConnectionClosed?.();
    },
  };
  return { session, handler };
}
