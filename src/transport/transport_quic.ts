/**
 * The QUIC transport: one QUIC connection, on any engine, or one WebTransport session, behind
 * the {@linkcode Transport} interface. Envelopes go as length-prefixed frames on the message
 * stream, or as datagrams; both carry them alike.
 *
 * @module
 */
import type { Disconnect } from "../core/disconnect.ts";
import type { Transport } from "../core/transport.ts";
import type { QuicEngineConnection } from "./quic_engine.ts";
import { encodeFrame, FRAME_HEADER_BYTES } from "./quic_framing.ts";

const encoder = new TextEncoder();

/** Options for {@linkcode QuicTransport}. */
export interface QuicTransportOptions {
  /** How long a closing connection waits for the peer to read its last frames, ms. */
  closeLingerMs: number;
  /** `webtransport` for a WebTransport session; `quic` by default. */
  kind?: "quic" | "webtransport";
}

/** A QUIC connection or WebTransport session as a gateway {@linkcode Transport}. */
export class QuicTransport implements Transport {
  /** `quic`, or `webtransport` for a WebTransport session. */
  readonly kind: "quic" | "webtransport";
  readonly #connection: QuicEngineConnection;
  readonly #closeLingerMs: number;
  #closing = false;

  /** Wraps an engine connection. */
  constructor(connection: QuicEngineConnection, options: QuicTransportOptions) {
    this.#connection = connection;
    this.#closeLingerMs = options.closeLingerMs;
    this.kind = options.kind ?? "quic";
  }

  /**
   * Frame bytes on the message stream that the QUIC stack has not taken yet: what waits while
   * the client's flow-control window is shut. Exact and cheap (a field the engine keeps).
   */
  get outboundBytes(): number {
    return this.#connection.queuedBytes;
  }

  /** Sends one envelope as a frame on the message stream: its UTF-8 bytes, or -1 when closing. */
  write(text: string): number {
    if (this.#closing) return -1;
    const frame = encodeFrame(text);
    return this.#connection.writeStream(frame) ? frame.length - FRAME_HEADER_BYTES : -1;
  }

  /** Sends one envelope as a datagram: its UTF-8 bytes, or -1 when it cannot go (off, too big, closed). */
  writeDatagram(text: string): number {
    if (this.#closing) return -1;
    const bytes = encoder.encode(text);
    return this.#connection.sendDatagram(bytes) ? bytes.length : -1;
  }

  /** Closes the connection with the disconnect's code as the application error code. */
  close(disconnect: Disconnect): void {
    if (this.#closing) return;
    this.#closing = true;
    void this.#connection.close(disconnect.code, disconnect.reason, this.#closeLingerMs);
  }
}
